// SPDX-License-Identifier: MIT
// libFuzzer target for the configuration parser and validator (control/config/config.cc,
// control/config/config_validate.cc) through their pure entry point, load_config_text(). The input is
// the text of gvpe.conf; after a NUL byte, optional command-line overrides follow, one per line
// ("var=value", "node.var=value"). It is loaded as node "alpha" and as a tool (no node name),
// with a temporary confdir holding two small files for `include` (inc.conf, alpha.conf). Inputs
// naming /dev, /proc or /sys are skipped: `include /dev/zero` would only measure the disk.
// Each is also loaded with read_includes = false (the pure form: no file read).
// Oracles: a load fails with at least one diagnostic, each with a file and a message; a load that
// succeeds has its own node (by name, as "alpha"), node ids unique in 1..4095 and names unique;
// the same input loaded twice gives the same diagnostics, warnings and node table (no state
// carried between loads, nothing uninitialised read); without `include` in the input, the pure
// form gives the same result.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "control/config/config.hh"
#include "tests/fuzz/fuzz_replay.hh"

namespace {

[[noreturn]] void fail(const std::string& what, std::string_view text) {
    std::fprintf(stderr, "config_fuzz: oracle violated: %s\n--- input (%zu bytes) ---\n%.*s\n---\n", what.c_str(),
                 text.size(), static_cast<int>(std::min<size_t>(text.size(), 2000)), text.data());
    std::abort();
}

struct world {
    std::string dir;
    world() {
        char tmpl[] = "/tmp/dvpe-cfgfuzz-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) {
            std::abort();
        }
        dir = tmpl;
        std::ofstream(dir + "/inc.conf") << "node = gamma\nhostname = 192.0.2.3\n";
        std::ofstream(dir + "/alpha.conf") << "mtu = 1400\n";
    }
    ~world() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
};

world& the_world() {
    static world w;
    return w;
}

/// Everything a load produced, as text: for comparing two loads of the same input.
std::string summary(const control::result<control::config, std::vector<control::diagnostic>>& r) {
    std::string s;
    if (!r) {
        for (const auto& d : r.error()) {
            s += "E " + d.str() + "\n";
        }
        return s;
    }
    const control::config& c = r.value();
    for (const auto& d : c.warnings) {
        s += "W " + d.str() + "\n";
    }
    for (const auto& n : c.nodes) {
        s += "N " + n.name + " " + std::to_string(n.id) + " " + n.hostname + " " + std::to_string(n.udp_port) + "\n";
    }
    s += "self " + std::to_string(c.self) + " mtu " + std::to_string(c.global.mtu) + "\n";
    return s;
}

void check(const control::result<control::config, std::vector<control::diagnostic>>& r, const std::string& nodename,
           std::string_view text) {
    if (!r) {
        if (r.error().empty()) {
            fail("a failed load without a diagnostic", text);
        }
        for (const auto& d : r.error()) {
            if (d.where.file.empty() || d.message.empty() || d.where.line < 0) {
                fail("a diagnostic without file, line or message: " + d.str(), text);
            }
        }
        return;
    }
    const control::config& c = r.value();
    std::set<unsigned> ids;
    std::set<std::string> names;
    for (const auto& n : c.nodes) {
        if (n.id < 1 || n.id > control::limits::max_node_id || !ids.insert(n.id).second) {
            fail("node " + n.name + " has id " + std::to_string(n.id) + " (out of range or taken)", text);
        }
        if (!names.insert(n.name).second) {
            fail("two nodes named " + n.name, text);
        }
    }
    if (!nodename.empty()) {
        if (c.self >= c.nodes.size() || c.nodes[c.self].name != nodename) {
            fail("a valid config without its own node " + nodename, text);
        }
        (void)control::required_mbufs(c.self_node().engine);
        (void)c.overlay_mtu();
    }
    for (const auto& d : c.warnings) {
        if (d.where.file.empty() || d.message.empty()) {
            fail("a warning without file or message: " + d.str(), text);
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const world& w = the_world();
    const std::string_view all(reinterpret_cast<const char*>(data), size);
    for (std::string_view bad : {"/dev", "/proc", "/sys"}) {
        if (all.find(bad) != std::string_view::npos) {
            return 0;
        }
    }
    const size_t nul = all.find('\0');
    const std::string_view text = all.substr(0, nul);
    control::load_options opt;
    opt.confdir = w.dir;
    opt.n_cpus = 2;
    if (nul != std::string_view::npos) {
        std::string_view rest = all.substr(nul + 1);
        while (!rest.empty() && opt.overrides.size() < 16) {
            const size_t nl = rest.find('\n');
            opt.overrides.emplace_back(rest.substr(0, nl));
            rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
        }
    }
    for (const char* name : {"alpha", ""}) {
        opt.nodename = name;
        opt.read_includes = true;
        const auto first = control::load_config_text(text, "fuzz.conf", opt);
        check(first, opt.nodename, text);
        const auto second = control::load_config_text(text, "fuzz.conf", opt);
        if (summary(first) != summary(second)) {
            fail("two loads of the same input differ:\n" + summary(first) + "---\n" + summary(second), text);
        }
        // The pure form (no file read) is the same function for a text without `include`.
        opt.read_includes = false;
        const auto pure = control::load_config_text(text, "fuzz.conf", opt);
        check(pure, opt.nodename, text);
        if (all.find("include") == std::string_view::npos && summary(pure) != summary(first)) {
            fail("read_includes = false changed a config without include:\n" + summary(first) + "---\n" +
                     summary(pure),
                 text);
        }
    }
    return 0;
}

// config_fuzz_replay: small complete configs, each line dropped and each line doubled, then
// random lines from a vocabulary of directives and values.
extern "C" size_t dvpe_fuzz_generate(uint64_t iterations, uint64_t seed, dvpe_fuzz_run_fn run) {
    static const std::vector<std::string> base = {
        "udp-port = 655",
        "enable-udp = yes",
        "cipher = aes256-gcm",
        "ifname = dvpe0",
        "mtu = 1500",
        "node = alpha",
        "hostname = 192.0.2.1",
        "wan-port = net_af_packet0,iface=eth0",
        "node = beta",
        "hostname = 192.0.2.2",
        "router-priority = 1",
        "on alpha connect = never",
        "include inc.conf",
        "include %s.conf",
    };
    static const char* const words[] = {
        "node",       "=",        "alpha",      "beta",     "hostname",  "192.0.2.9", "::1",      "udp-port",
        "0",          "65536",    "-1",         "mtu",      "9601",      "on",        "include",  "%s",
        "%%",         "%x",       "connect",    "ondemand", "node-id",   "4095",      "4096",     "lcores",
        "worker-lcores", "1-3",   "queue-map",  "rx-queues", "router-priority", "allow-direct", "*", "\"",
        "#",          "\\",       "\t",         "enable-rawip", "ip-proto", "17",    "inherit-tos", "yes",
    };
    size_t n = 0;
    const auto go = [&](const std::string& s) {
        run(reinterpret_cast<const uint8_t*>(s.data()), s.size());
        ++n;
    };
    std::string whole;
    for (const auto& l : base) {
        whole += l + "\n";
    }
    go(whole);
    go(whole + std::string(1, '\0') + "mtu=1400\nbeta.udp-port=7\nnosuch=1\n=\n.=x");
    for (size_t skip = 0; skip < base.size(); ++skip) {
        std::string dropped, doubled;
        for (size_t i = 0; i < base.size(); ++i) {
            if (i != skip) {
                dropped += base[i] + "\n";
            }
            doubled += base[i] + "\n" + (i == skip ? base[i] + "\n" : "");
        }
        go(dropped);
        go(doubled);
    }
    uint64_t s = seed;
    for (uint64_t i = 0; i < iterations; ++i) {
        std::string text = (i & 1) ? whole : "";
        const size_t lines = fuzz_replay::next(s) % 12;
        for (size_t l = 0; l < lines; ++l) {
            const size_t k = 1 + fuzz_replay::next(s) % 4;
            for (size_t j = 0; j < k; ++j) {
                text += std::string(words[fuzz_replay::next(s) % (sizeof words / sizeof words[0])]) + " ";
            }
            text += "\n";
        }
        go(text);
    }
    return n;
}
