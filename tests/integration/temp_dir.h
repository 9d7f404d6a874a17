#pragma once
// A scratch directory under /tmp, removed with everything in it when the
// test ends.
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace dpdc::test {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/dpdc-test-XXXXXX";
    const char* made = ::mkdtemp(tmpl);
    path_ = made ? made : "/tmp";
  }
  ~TempDir() {
    std::error_code ec;
    if (path_ != "/tmp") std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace dpdc::test
