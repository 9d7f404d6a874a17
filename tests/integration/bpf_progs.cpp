#include "bpf_progs.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace dpdc::test {

int count_programs_named(const std::string& name) {
  int n = 0;
  __u32 id = 0;
  while (bpf_prog_get_next_id(id, &id) == 0) {
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) continue;
    bpf_prog_info info{};
    __u32 len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && name.compare(0, sizeof info.name - 1, info.name) == 0) ++n;
    ::close(fd);
  }
  return n;
}

int settle_programs_named(const std::string& name, int expected) {
  int n = count_programs_named(name);
  for (int i = 0; i < 200 && n != expected; ++i) {
    ::usleep(50'000);
    n = count_programs_named(name);
  }
  return n;
}

int run_raw_tp(int prog_fd, const std::uint64_t* args, unsigned nargs, int cpu) {
  LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = args, .ctx_size_in = static_cast<__u32>(nargs * sizeof(std::uint64_t)));
  if (cpu >= 0) {
    opts.flags = BPF_F_TEST_RUN_ON_CPU;
    opts.cpu = static_cast<__u32>(cpu);
  }
  int rc = bpf_prog_test_run_opts(prog_fd, &opts);
  return rc < 0 ? -errno : 0;
}

}  // namespace dpdc::test
