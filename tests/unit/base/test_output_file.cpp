// Files the engine writes for the user: a symbolic link is refused, never
// followed; the named file is created or overwritten; a directory is refused.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <fstream>
#include <string>

#include "base/output_file.h"
#include "dpdc/error.h"
#include "trace/recorder.h"
#include "trace/trace.h"

namespace dpdc {
namespace {

namespace fs = std::filesystem;

struct Dir {
  fs::path path = fs::temp_directory_path() / ("dpdc-output-" + std::to_string(::getpid()));
  Dir() { fs::create_directories(path); }
  ~Dir() { fs::remove_all(path); }
};

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void expect_usage(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error, expected: " << needle;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Usage);
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
  }
}

TEST(OutputFile, ASymbolicLinkIsRefusedAndItsTargetLeftAlone) {
  Dir d;
  const fs::path victim = d.path / "victim", link = d.path / "out.trace";
  std::ofstream(victim) << "precious";
  fs::create_symlink(victim, link);
  expect_usage([&] { create_output_file(link, "trace"); }, "refusing to write the trace through the symbolic link");
  expect_usage([&] { TraceRecorder(link, 16, 0); }, "symbolic link " + link.string());
  expect_usage([&] { write_trace_file(link, Trace{}); }, "name the file itself");
  EXPECT_EQ(read(victim), "precious");
  // A dangling link is refused too: following it would create a file elsewhere.
  const fs::path dangling = d.path / "dangling";
  fs::create_symlink(d.path / "elsewhere", dangling);
  expect_usage([&] { create_output_file(dangling, "migration stream"); }, "symbolic link");
  EXPECT_FALSE(fs::exists(d.path / "elsewhere"));
}

TEST(OutputFile, TheNamedFileIsCreatedOrOverwrittenADirectoryIsRefused) {
  Dir d;
  const fs::path file = d.path / "stream.mig";
  {
    UniqueFd fd = create_output_file(file, "migration stream");
    const std::string text = "first, longer contents";
    write_all(fd.get(), std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()), file);
  }
  {
    UniqueFd fd = create_output_file(file, "migration stream");
    const std::string text = "second";
    write_all(fd.get(), std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()), file);
    write_all_at(fd.get(), std::span(reinterpret_cast<const std::uint8_t*>("S"), 1), 0, file);
  }
  EXPECT_EQ(read(file), "Second");
  EXPECT_EQ(fs::status(file).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
  expect_usage([&] { create_output_file(d.path, "heatmap"); }, "is a directory; name a file for the heatmap");
  expect_usage([&] { create_output_file(d.path / "no" / "such", "trace"); }, "cannot create the trace");
}

TEST(OutputFile, ARecordingStillRoundTrips) {
  Dir d;
  const fs::path file = d.path / "rec.trace";
  TraceRecorder rec(file, 64, 1000);
  rec.add(dpdc_event{1500, 3, 0});
  rec.add(dpdc_event{2500, 7, 1});
  rec.finish(5000);
  Trace t = read_trace_file(file);
  ASSERT_EQ(t.events.size(), 2u);
  EXPECT_EQ(t.events[0].page, 3u);
  EXPECT_EQ(t.events[1].t_ns, 1500u);
  EXPECT_EQ(t.duration_ns, 4000u);
}

}  // namespace
}  // namespace dpdc
