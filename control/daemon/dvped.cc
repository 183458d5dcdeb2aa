// SPDX-License-Identifier: MIT
// dvped: runs one dvpe node. Command line as gvpe(8):
//   dvped [-c CONFDIR] [-D] [-l LEVEL] [-L] [--check] [--version] NODENAME [var=value | node.var=value ...]
// Loads and validates the config (errors are `file:line: message`, exit 1), then applies it
// (control/daemon/daemon.hh) and runs until SIGTERM/SIGINT. SIGHUP reloads the configuration (the same
// directory and overrides) and reconnects every peer, SIGUSR1 logs a status dump; SIGUSR2 and SIGALRM are ignored.
// Before anything else it forbids core dumps (every key is in its memory) unless
// DVPE_ALLOW_COREDUMP=1 (control::forbid_core_dumps).
#include <fcntl.h>
#include <getopt.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "control/config/config.hh"
#include "control/daemon/daemon.hh"
#include "control/daemon/kernel_if.hh"
#include "control/config/keys.hh"
#include "control/log.hh"

#include <rte_log.h>

namespace {

constexpr const char* usage_text =
    "usage: dvped [-c CONFDIR] [-D] [-l LEVEL] [-L] [--check] NODENAME [var=value | node.var=value ...]\n"
    "\n"
    "Runs the dvpe node NODENAME of the mesh configured in CONFDIR/gvpe.conf.\n"
    "  -c, --config DIR   configuration directory (default /etc/dvpe)\n"
    "  -D, --no-detach, --foreground\n"
    "                     do not detach; log to stderr as well as syslog (to the journal only,\n"
    "                     once, when stderr is systemd's journal: $JOURNAL_STREAM)\n"
    "  -l, --log-level L  noise|trace|debug|info|notice|warn|error|critical (default info)\n"
    "  -L, --mlock        lock all memory (mlockall), as gvpe -L; hugepages are never swapped anyway\n"
    "      --check        load and validate the configuration, print warnings and exit\n"
    "      --benchmark-static-keys\n"
    "                     BENCHMARK ONLY: fixed public keys, no handshakes; refused unless every\n"
    "                     port is net_pcap, net_null or net_ring (perf/, docs/performance.md)\n"
    "  -v, --version      print the version and exit\n"
    "  -h, --help         this text\n"
    "var=value overrides a setting after the file is read (as a global default);\n"
    "node.var=value overrides it in that node's section.\n"
    "Signals: TERM/INT stop, HUP reloads the configuration (as `dvpectl reload`) and then\n"
    "reconnects every peer (as `dvpectl reconnect`, also when the reload is refused), USR1 logs\n"
    "a status dump; USR2 and ALRM are ignored.\n"
    "Core dumps are disabled (the process holds every key) unless DVPE_ALLOW_COREDUMP=1.\n"
    "Under systemd (Type=notify, $NOTIFY_SOCKET) it reports READY=1 once the control socket\n"
    "serves, RELOADING=1 around reloads, STOPPING=1, and pings $WATCHDOG_USEC's watchdog.\n"
    "Exit codes: 0 stopped by a signal, 1 configuration error or failure to start, 2 usage,\n"
    "3 failure while running.\n";

void on_signal(int) { control::daemon::request_stop(); }
void on_hup(int) { control::daemon::request_reload(); }
void on_usr1(int) { control::daemon::request_dump(); }

int usage_error(const std::string& msg) {
    std::cerr << "dvped: " << msg << "\n" << usage_text;
    return 2;
}

void daemonize() {
    pid_t pid = fork();
    if (pid < 0) {
        std::perror("dvped: fork");
        std::exit(1);
    }
    if (pid > 0) {
        std::exit(0);
    }
    setsid();
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2) {
            close(fd);
        }
    }
}

// systemd connects stderr to the journal and says so in $JOURNAL_STREAM ("DEV:INODE" of that
// stream): compared with our stderr, so a child of the service that redirected it does not
// count.
bool stderr_is_journal() {
    const char* js = std::getenv("JOURNAL_STREAM");
    struct stat st{};
    if (js == nullptr || fstat(2, &st) != 0) {
        return false;
    }
    unsigned long long dev = 0, ino = 0;
    if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) {
        return false;
    }
    return dev == static_cast<unsigned long long>(st.st_dev) && ino == static_cast<unsigned long long>(st.st_ino);
}

}  // namespace

int main(int argc, char** argv) {
    // First of all: no core file (nor a debugger without CAP_SYS_PTRACE) ever sees a key.
    const char* allow_env = std::getenv("DVPE_ALLOW_COREDUMP");
    const bool allow_core = allow_env != nullptr && std::string(allow_env) == "1";
    auto dump = control::forbid_core_dumps(allow_core);
    if (!dump) {
        std::cerr << "dvped: cannot disable core dumps: " << dump.error() << "\n";
        return 1;
    }
    control::load_options opt;
    bool foreground = false;
    bool check_only = false;
    control::daemon_options dopt;
    std::optional<control::log_level> cli_level;
    static const option long_opts[] = {{"config", required_argument, nullptr, 'c'},
                                       {"foreground", no_argument, nullptr, 'D'},
                                       {"no-detach", no_argument, nullptr, 'D'},
                                       {"version", no_argument, nullptr, 'v'},
                                       {"log-level", required_argument, nullptr, 'l'},
                                       {"mlock", no_argument, nullptr, 'L'},
                                       {"check", no_argument, nullptr, 'C'},
                                       {"benchmark-static-keys", no_argument, nullptr, 'B'},
                                       {"help", no_argument, nullptr, 'h'},
                                       {nullptr, 0, nullptr, 0}};
    int c;
    opterr = 0;
    bool mlock = false;
    while ((c = getopt_long(argc, argv, "c:Dl:Lhv", long_opts, nullptr)) != -1) {
        switch (c) {
        case 'c':
            opt.confdir = optarg;
            break;
        case 'D':
            foreground = true;
            break;
        case 'l':
            cli_level = control::parse_log_level(optarg);
            if (!cli_level) {
                return usage_error(std::string("unknown log level '") + optarg + "'");
            }
            break;
        case 'L':
            mlock = true;
            break;
        case 'C':
            check_only = true;
            break;
        case 'B':
            dopt.benchmark_static_keys = true;
            break;
        case 'h':
            std::cout << usage_text;
            return 0;
        case 'v':
            std::cout << "dvped " DVPE_VERSION "\n";
            return 0;
        default:
            return usage_error(std::string("unknown or incomplete option '") + argv[optind - 1] + "'");
        }
    }
    if (optind >= argc) {
        return usage_error("missing NODENAME");
    }
    opt.nodename = argv[optind++];
    for (; optind < argc; ++optind) {
        std::string a = argv[optind];
        if (a.find('=') == std::string::npos) {
            return usage_error("argument '" + a + "' is not var=value");
        }
        opt.overrides.push_back(a);
    }

    // Under systemd (stderr is the journal) every line, the configuration's errors included,
    // goes there once with its priority ("<3>" error, "<4>" warning), so `journalctl -p err`
    // shows why a unit failed; DPDK's own log lines too (only to stderr, not also to syslog).
    const bool journal = foreground && !check_only && stderr_is_journal();
    if (journal) {
        control::log::set_journal(true);
        rte_openlog_stream(stderr);
    }
    auto say = [journal](const char* prio, const std::string& line) {
        std::cerr << (journal ? prio : "") << line << "\n";
    };
    std::vector<control::diagnostic> warnings;
    opt.warnings_out = &warnings;
    opt.host = control::read_host_facts();  // for a gvpe.conf without an engine layout
    auto cfg = control::load_config(opt);
    opt.warnings_out = nullptr;  // reloads (which get a copy of opt) report their own
    if (!cfg) {
        for (const auto& d : cfg.error()) {
            say("<3>", d.str());
        }
        for (const auto& w : warnings) {  // what else dvpe will not act on, as after a clean load
            say("<4>", w.str());
        }
        say("<3>", "dvped: configuration has errors, not starting");
        return 1;
    }
    for (const auto& w : cfg->warnings) {
        say("<4>", w.str());
    }
    control::log::set_level(cli_level ? *cli_level : cfg->global.loglevel);
    if (check_only) {
        for (const auto& l : cfg->auto_layout) {
            std::cout << "engine layout (automatic): " << l << "\n";
        }
        try {
            auto c = control::resolve_cipher(cfg.value());
            std::cout << "cipher " << crypto::name(c.cipher) << " with backend " << crypto::name(c.impl) << "\n";
            std::cout << crypto::avx512_status() << "\n";
        } catch (const std::exception& e) {
            std::cerr << "dvped: " << e.what() << "\n";
            return 1;
        }
        std::cout << "configuration ok: " << cfg->nodes.size() << " nodes, running as " << cfg->self_node().name
                  << " (id " << cfg->self_node().id << ")\n";
        return 0;
    }
    if (!foreground) {
        daemonize();
        control::log::set_stderr(false);
    }
    if (!journal) {
        control::log::use_syslog("dvped");  // (the journal: once, above; not syslog as well)
    }
    for (const auto& l : cfg->auto_layout) {
        control::log::notice("engine layout (automatic): " + l);
    }
    if (allow_core) {
        control::log::warn("dvped: " + *dump);
    } else {
        control::log::info("dvped: " + *dump);
    }
    if (mlock && mlockall(MCL_CURRENT | MCL_FUTURE) != 0) {
        const int e = errno;
        control::log::error(std::string("dvped: -L: mlockall: ") + std::strerror(e) + " (needs CAP_IPC_LOCK or RLIMIT_MEMLOCK)");
        return 1;
    }

    struct sigaction sa{};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    sa.sa_handler = on_hup;  // reload the configuration (GVPE only reconnected)
    sigaction(SIGHUP, &sa, nullptr);
    sa.sa_handler = on_usr1;  // status dump to the log, as GVPE
    sigaction(SIGUSR1, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGUSR2, SIG_IGN);  // GVPE: nothing
    signal(SIGALRM, SIG_IGN);  // gvpectrl -k accepts it; nothing to do here

    dopt.reload_from = opt;
    dopt.log_level_from_cli = cli_level.has_value();
    std::optional<control::daemon> d;
    try {
        d.emplace(std::move(cfg.value()), dopt);
    } catch (const std::exception& e) {
        // Could not start with this configuration (a key, a port, the EAL): exit 1, which the
        // systemd unit does not restart in a loop (configs/systemd/dvped@.service.in).
        control::log::error(std::string("dvped: ") + e.what());
        return 1;
    }
    try {
        d->run();
    } catch (const std::exception& e) {
        control::log::error(std::string("dvped: failed while running: ") + e.what());
        return 3;  // restarted by the unit
    }
    return 0;
}
