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

#include "incoming_control.h"
#include "incoming_loader.h"
#include "incoming_source.h"
#include "kvm_vm.h"
#include "machine.h"
#include "options.h"
#include "qmp_server.h"
#include "stream/byte_io.h"
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
// One wait of a main loop: on the signal fd, on one fd of the caller's and on
// the QMP sockets, whose traffic is served here. After SIGINT/SIGTERM the QMP
// client has been told of the shutdown.
enum class Wake { Signal, Own, Other };

Wake wait_once(int sig_fd, pollfd own, QmpServer* qmp)
{
    std::vector<pollfd> fds{{sig_fd, POLLIN, 0}, own};
    if (qmp != nullptr)
        for (const auto& p : qmp->poll_fds())
            fds.push_back(p);
    while (::poll(fds.data(), fds.size(), -1) < 0) {
        if (errno != EINTR)
            dpdc::throw_errno(errno, "poll");
    }
    if (fds[0].revents != 0) {
        signalfd_siginfo si{};
        [[maybe_unused]] auto n = ::read(sig_fd, &si, sizeof(si));
        if (qmp != nullptr)
            qmp->notify_shutdown("host-signal");
        return Wake::Signal;
    }
    for (std::size_t i = 2; i < fds.size(); ++i)
        qmp->on_ready(fds[i]);
    return fds[1].revents != 0 ? Wake::Own : Wake::Other;
}

int run_loop(Machine& machine, QmpServer* qmp, int sig_fd)
{
    for (;;) {
        switch (wait_once(sig_fd, {machine.error_fd(), POLLIN, 0}, qmp)) {
        case Wake::Signal:
            return kExitOk;
        case Wake::Own:
            error_line(machine.fatal_error().value_or("vCPU failed"));
            return kExitFailure;
        case Wake::Other:
            break;
        }
        if ((qmp != nullptr && qmp->quit_requested()) || machine.quit_requested())
            return kExitOk;
    }
}

// SIGINT/SIGTERM are consumed through a signalfd; block them before any thread starts.
UniqueFd block_signals()
{
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    if (int rc = ::pthread_sigmask(SIG_BLOCK, &sigs, nullptr); rc != 0)
        dpdc::throw_errno(rc, "pthread_sigmask");
    UniqueFd sig_fd(check(::signalfd(-1, &sigs, SFD_CLOEXEC), "signalfd"));
    ::signal(SIGPIPE, SIG_IGN);
    return sig_fd;
}

int run(const Config& cfg)
{
    UniqueFd sig_fd = block_signals();

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

// -incoming: load the whole stream into a fresh memfd while QMP says
// "inmigrate"; only a complete, valid stream creates the VM and runs the guest.
int run_incoming(Config cfg)
{
    UniqueFd sig_fd = block_signals();
    { Kvm probe; }  // no /dev/kvm: exit 3 before accepting a stream

    const dpdc::Destination uri = dpdc::Destination::parse(*cfg.incoming, dpdc::Destination::Role::Listen);
    const MemoryLayout mem = plan_memory(cfg.ram_size, cfg.hole);
    const WorkloadArea area = plan_workload_area(mem, cfg.workload.pages, cfg.vcpus);
    GuestRam ram(cfg.ram_size);

    IncomingVm control(describe_memory(cfg, mem, area, ram.fd()), !cfg.start_paused);

    // Listen before the QMP socket appears: whoever waits for QMP can connect right away.
    auto source = std::make_unique<IncomingSource>(uri);
    std::unique_ptr<PidFile> pidfile;
    if (cfg.pidfile)
        pidfile = std::make_unique<PidFile>(*cfg.pidfile);
    std::unique_ptr<QmpServer> qmp;
    if (cfg.qmp_path)
        qmp = std::make_unique<QmpServer>(*cfg.qmp_path, control);

    IncomingResult result;
    {
        IncomingLoader loader({ram.data(), ram.size()}, local_machine_state(cfg), cfg.workload_given, ram.fd());
        while (!source->eof()) {
            const Wake wake = wait_once(sig_fd.get(), source->poll_fd(), qmp.get());
            if (wake == Wake::Signal)
                return kExitOk;
            if (wake == Wake::Own) {
                // Read straight into the parser's buffer: one copy less per byte.
                const std::size_t n = source->on_ready(loader.input_space(std::size_t{1} << 20));
                if (n > 0)
                    loader.commit(n);
            }
            if ((qmp && qmp->quit_requested()) || control.quit_requested())
                return kExitOk;
        }
        result = loader.finish();
    }
    source.reset();

    // The guest in RAM runs the source's workload; the VMM must agree (sync=on
    // reaping, x-dpdc-query-workload). The loader refused a different --workload.
    try {
        cfg.workload = parse_workload_spec(result.machine.workload);
    } catch (const std::invalid_argument& e) {
        throw std::runtime_error(std::string("the stream's dpdc-vm/machine section has a bad workload: ") + e.what());
    }
    Machine machine(cfg, std::move(ram), result, control.autostart());
    control.attach(machine);
    machine.start();
    if (control.autostart() && qmp)
        qmp->notify_event("RESUME");
    std::fprintf(stderr, "dpdc-vm: migration complete: %llu pages loaded from %s\n",
                 static_cast<unsigned long long>(result.pages_loaded), cfg.incoming->c_str());
    int status = run_loop(machine, qmp.get(), sig_fd.get());
    machine.shutdown();
    return status;
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
    try {
        return parsed.config.incoming ? run_incoming(parsed.config) : run(parsed.config);
    } catch (const dpdc::stream::StreamError& e) {
        error_line(std::string("incoming migration failed: ") + e.what());
        return kExitFailure;
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
