// SPDX-License-Identifier: MIT
// EAL argument construction and lifetime; see eal.hh.
#include "pmd/eal.hh"

#include "pmd/dp_memory.hh"

#include <rte_eal.h>
#include <rte_pdump.h>
#include <rte_errno.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace pmd {

std::vector<std::string> build_eal_args(const eal_options& opt) {
    std::vector<std::string> a{opt.program};
    std::string lcores = std::to_string(opt.main_lcore);
    for (unsigned l : opt.worker_lcores) {
        lcores += "," + std::to_string(l);
    }
    if (opt.extra_args.find("--lcores") == std::string::npos) {  // --lcores maps them itself
        a.push_back("-l");
        a.push_back(lcores);
    }
    a.push_back("--main-lcore");
    a.push_back(std::to_string(opt.main_lcore));
    if (!opt.file_prefix.empty()) {
        a.push_back("--file-prefix");
        a.push_back(opt.file_prefix);
    }
    if (!opt.hugepages) {
        a.push_back("--no-huge");
        a.push_back("-m");
        a.push_back(std::to_string(opt.memory_mb ? opt.memory_mb : 512));
    } else {
        if (opt.memory_mb) {
            a.push_back("-m");
            a.push_back(std::to_string(opt.memory_mb));
        }
        // Hugepage files are unlinked right after mapping: nothing is left in hugetlbfs
        // even if the daemon is killed (unless a secondary process must map them: capture).
        if (opt.huge_unlink) {
            a.push_back("--huge-unlink");
        }
    }
    if (opt.pci_allow.empty()) {
        a.push_back("--no-pci");
    } else {
        for (const auto& p : opt.pci_allow) {
            a.push_back("-a");
            a.push_back(p);
        }
    }
    if (!opt.log_level.empty()) {
        a.push_back("--log-level=" + opt.log_level);
    }
    std::istringstream extra(opt.extra_args);
    for (std::string w; extra >> w;) {
        a.push_back(w);
    }
    return a;
}

eal::eal(const eal_options& opt) {
    auto args = build_eal_args(opt);
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& s : args) {
        argv.push_back(s.data());
    }
    argv.push_back(nullptr);
    if (rte_eal_init(static_cast<int>(args.size()), argv.data()) < 0) {
        throw std::runtime_error(std::string("EAL initialisation failed: ") + rte_strerror(rte_errno));
    }
    dp_memory_use_dpdk(true);  // per-peer state from DPDK's heap from now on
}

eal::~eal() {
    dp_memory_use_dpdk(false);
    rte_eal_cleanup();
}

capture::capture(std::string file_prefix) : _prefix(std::move(file_prefix)) {
    if (rte_pdump_init() != 0) {
        const std::string err = rte_strerror(rte_errno);
        unlink_hugepage_files();  // nothing will attach: as --huge-unlink would have
        throw std::runtime_error("capture: rte_pdump_init failed: " + err);
    }
}

capture::~capture() {
    (void)rte_pdump_uninit();
    unlink_hugepage_files();
}

void capture::unlink_hugepage_files() const {
    // The EAL names its files PREFIXmap_N in every hugetlbfs mount (eal_filesystem.h); only
    // those: a node called "amap_1" has files "dvpe-amap_1map_0", not ours when we are "dvpe-a".
    std::ifstream mounts("/proc/mounts");
    for (std::string dev, dir, type, rest; mounts >> dev >> dir >> type && std::getline(mounts, rest);) {
        if (type != "hugetlbfs" || _prefix.empty()) {
            continue;
        }
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
            const std::string name = e.path().filename().string();
            const std::string head = _prefix + "map_";
            if (name.size() > head.size() && name.compare(0, head.size(), head) == 0 &&
                std::all_of(name.begin() + static_cast<long>(head.size()), name.end(),
                            [](char ch) { return ch >= '0' && ch <= '9'; })) {
                std::filesystem::remove(e.path(), ec);
            }
        }
    }
}

}  // namespace pmd
