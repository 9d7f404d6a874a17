// dpdc-vm entry point: options -> Machine -> event loop (signals, QMP, vCPU errors).
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "kvm_vm.h"
#include "machine.h"
#include "options.h"
#include "qmp_server.h"
#include "sys.h"

namespace {

using namespace dpdc::vm;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kExitNoKvm = 3;

void error_line(const std::string& msg) { std::fprintf(stderr, "dpdc-vm: %s\n", msg.c_str()); }

// Writes the pid file and removes it again on destruction.
class PidFile {
public:
    explicit PidFile(std::string path) : path_(std::move(path))
    {
        std::ofstream f(path_, std::ios::trunc);
        f << ::getpid() << '\n';
        f.flush();
        if (!f)
            throw std::runtime_error("cannot write pid file " + path_ + "; check the -pidfile path");
    }
    ~PidFile() { ::unlink(path_.c_str()); }
    PidFile(const PidFile&) = delete;
    PidFile& operator=(const PidFile&) = delete;

private:
    std::string path_;
};

// Main loop: returns the exit status.
int run_loop(Machine& machine, QmpServer* qmp, int sig_fd)
{
    for (;;) {
        std::vector<pollfd> fds{{sig_fd, POLLIN, 0}, {machine.error_fd(), POLLIN, 0}};
        if (qmp != nullptr)
            for (const auto& p : qmp->poll_fds())
                fds.push_back(p);
        if (::poll(fds.data(), fds.size(), -1) < 0) {
            if (errno == EINTR)
                continue;
            dpdc::throw_errno(errno, "poll");
        }
        if (fds[0].revents != 0) {
            signalfd_siginfo si{};
            [[maybe_unused]] auto n = ::read(sig_fd, &si, sizeof(si));
            if (qmp != nullptr)
                qmp->notify_shutdown("host-signal");
            return kExitOk;
        }
        if (fds[1].revents != 0) {
            error_line(machine.fatal_error().value_or("vCPU failed"));
            return kExitFailure;
        }
        for (std::size_t i = 2; i < fds.size(); ++i)
            qmp->on_ready(fds[i]);
        if ((qmp != nullptr && qmp->quit_requested()) || machine.quit_requested())
            return kExitOk;
    }
}

int run(const Config& cfg)
{
    // SIGINT/SIGTERM are consumed through a signalfd; block them before any thread starts.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    if (int rc = ::pthread_sigmask(SIG_BLOCK, &sigs, nullptr); rc != 0)
        dpdc::throw_errno(rc, "pthread_sigmask");
    UniqueFd sig_fd(check(::signalfd(-1, &sigs, SFD_CLOEXEC), "signalfd"));
    ::signal(SIGPIPE, SIG_IGN);

    Machine machine(cfg);
    std::unique_ptr<PidFile> pidfile;
    if (cfg.pidfile)
        pidfile = std::make_unique<PidFile>(*cfg.pidfile);
    std::unique_ptr<QmpServer> qmp;
    if (cfg.qmp_path)
        qmp = std::make_unique<QmpServer>(*cfg.qmp_path, machine);

    machine.start();
    int status = run_loop(machine, qmp.get(), sig_fd.get());
    machine.shutdown();
    return status;  // qmp and pidfile destructors remove their files
}

}  // namespace

int main(int argc, char** argv)
{
    std::vector<std::string> args(argv + 1, argv + argc);
    const ParseOutcome parsed = parse_options(args);
    switch (parsed.kind) {
    case ParseOutcome::Kind::Help:
        std::fputs(parsed.text.c_str(), stdout);
        return kExitOk;
    case ParseOutcome::Kind::Error:
        error_line(parsed.text);
        return kExitUsage;
    case ParseOutcome::Kind::Run:
        break;
    }
    if (parsed.config.incoming) {
        error_line("-incoming is not implemented yet");
        return kExitUsage;
    }
    try {
        return run(parsed.config);
    } catch (const KvmUnavailable& e) {
        error_line(e.what());
        return kExitNoKvm;
    } catch (const LayoutError& e) {
        error_line(e.what());
        return kExitUsage;
    } catch (const std::invalid_argument& e) {
        error_line(e.what());
        return kExitUsage;
    } catch (const dpdc::Error& e) {
        error_line(std::string(e.what()) + "; check the host's KVM support and limits");
        return kExitFailure;
    } catch (const std::exception& e) {
        error_line(e.what());
        return kExitFailure;
    }
}
