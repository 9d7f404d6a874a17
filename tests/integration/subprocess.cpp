#include "subprocess.h"

#include <sys/resource.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace dpdc::test {

std::string bin(const std::string& name) { return std::string(DPDC_BIN_DIR) + "/" + name; }

Child::Child(std::vector<std::string> argv, std::function<void()> before_exec) {
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork");
  if (pid_ == 0) {
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    if (before_exec) before_exec();
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  out_fd_ = out[0];
  err_fd_ = err[0];
}

Child::~Child() {
  if (!status_) {
    ::kill(pid_, SIGKILL);
    wait(std::chrono::seconds(10));
  }
  if (out_fd_ >= 0) ::close(out_fd_);
  if (err_fd_ >= 0) ::close(err_fd_);
}

void Child::pump(int timeout_ms) {
  pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
  if (::poll(fds, 2, timeout_ms) <= 0) return;
  char buf[8192];
  for (int i = 0; i < 2; ++i) {
    if (!(fds[i].revents & (POLLIN | POLLHUP))) continue;
    ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
    if (n > 0) (i == 0 ? out_ : err_).append(buf, static_cast<std::size_t>(n));
    if (n == 0) {
      ::close(fds[i].fd);
      (i == 0 ? out_fd_ : err_fd_) = -1;
    }
  }
}

bool Child::wait_for_output(const std::string& needle, std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (out_.find(needle) == std::string::npos) {
    if (std::chrono::steady_clock::now() >= end || out_fd_ < 0) return out_.find(needle) != std::string::npos;
    pump(50);
  }
  return true;
}

bool Child::wait_for_err(const std::function<bool(const std::string&)>& done, std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (!done(err_)) {
    if (std::chrono::steady_clock::now() >= end || err_fd_ < 0) return done(err_);
    pump(50);
  }
  return true;
}

void Child::signal(int sig) { ::kill(pid_, sig); }

std::optional<int> Child::wait(std::chrono::milliseconds timeout) {
  if (status_) return status_;
  auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (out_fd_ >= 0 || err_fd_ >= 0) pump(20);
    int st = 0;
    struct rusage ru {};
    pid_t r = ::wait4(pid_, &st, WNOHANG, &ru);
    if (r == pid_) max_rss_kib_ = static_cast<std::uint64_t>(ru.ru_maxrss);
    if (r == pid_) {
      while (out_fd_ >= 0 || err_fd_ >= 0) pump(100);
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      return status_;
    }
    if (std::chrono::steady_clock::now() >= end) return std::nullopt;
    if (out_fd_ < 0 && err_fd_ < 0) ::usleep(20000);
  }
}

RunResult run(std::vector<std::string> argv, std::function<void()> before_exec, std::chrono::milliseconds timeout) {
  Child c(std::move(argv), std::move(before_exec));
  auto code = c.wait(timeout);
  RunResult r;
  r.code = code.value_or(-1);
  r.out = c.out();
  r.err = c.err();
  return r;
}

std::uint64_t status_kib(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  const std::string key = field + ":";
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key, 0) == 0) return std::stoull(line.substr(key.size()));
  return 0;
}

}  // namespace dpdc::test
