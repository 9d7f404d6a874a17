#pragma once
// Child processes for the integration tests: started with a pipe on their
// stdout and stderr, always reaped (the destructor kills what is left).
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace dpdc::test {

std::string bin(const std::string& name);  // path of a built program

class Child {
 public:
  // `before_exec` runs in the child after fork (drop privileges, seccomp...).
  explicit Child(std::vector<std::string> argv, std::function<void()> before_exec = {});
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  // Reads stdout until `needle` appears or the timeout passes.
  bool wait_for_output(const std::string& needle, std::chrono::milliseconds timeout);
  // Reads stdout and stderr until `done(stderr so far)` holds or the timeout passes.
  bool wait_for_err(const std::function<bool(const std::string&)>& done, std::chrono::milliseconds timeout);
  void signal(int sig);
  // Waits for exit and collects all output; returns the exit code (128+sig if killed),
  // or nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout = std::chrono::seconds(60));
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }
  // Its peak resident memory (getrusage's ru_maxrss), once it was reaped.
  std::uint64_t max_rss_kib() const { return max_rss_kib_; }

 private:
  void pump(int timeout_ms);
  pid_t pid_ = -1;
  int out_fd_ = -1, err_fd_ = -1;
  std::string out_, err_;
  std::optional<int> status_;
  std::uint64_t max_rss_kib_ = 0;
};

struct RunResult {
  int code = -1;
  std::string out, err;
};
RunResult run(std::vector<std::string> argv, std::function<void()> before_exec = {},
              std::chrono::milliseconds timeout = std::chrono::seconds(60));

// A field of /proc/<pid>/status in KiB ("VmRSS", "RssAnon", ...); 0 once the
// process is gone or where the kernel has no such field.
std::uint64_t status_kib(pid_t pid, const std::string& field);

}  // namespace dpdc::test
