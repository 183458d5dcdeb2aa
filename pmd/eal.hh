// SPDX-License-Identifier: MIT
// EAL bring-up for dvped: builds the EAL argument vector from the engine layout (lcores,
// memory, hugepages or not, PCI allow-list, file prefix) and owns rte_eal_init/cleanup.
// Virtual devices are NOT passed to the EAL: pmd::open_port() hot-plugs each one with
// rte_dev_probe() so that a bad devargs string is reported for that port, not as an EAL failure.
// Threads: main thread only, before any worker starts / after all have stopped.
#pragma once

#include <string>
#include <vector>

namespace pmd {

struct eal_options {
    std::string program = "dvped";
    std::string file_prefix;                 // separates runtime dirs of several dvped on one host
    unsigned main_lcore = 0;                 // the control thread
    std::vector<unsigned> worker_lcores;
    bool hugepages = true;                   // false: --no-huge (anonymous memory, no hugepage files)
    unsigned memory_mb = 0;                  // -m; 0: 512 MB without hugepages, DPDK default with
    std::vector<std::string> pci_allow;      // PCI addresses of physical ports (-a); empty: --no-pci
    std::string extra_args;                  // split on spaces, appended (eal-args)
    std::string log_level;                   // --log-level value, e.g. "lib.eal:notice"
    // With hugepages: unlink the hugepage files right after mapping (nothing left in hugetlbfs
    // if the process is killed). false: keep them, so a secondary process (dpdk-dumpcap) can map
    // the memory.
    bool huge_unlink = true;
};

/// Packet capture by a secondary process (dpdk-dumpcap, dpdk-pdump): rte_pdump_init() after
/// the EAL, rte_pdump_uninit() before it goes. The EAL needs hugepages kept (huge_unlink false).
class capture {
public:
    /// file_prefix: the EAL's (--file-prefix), whose hugepage files ~capture() removes.
    explicit capture(std::string file_prefix);  // throws std::runtime_error
    /// Stops serving capture requests and unlinks this process's hugepage files (what
    /// --huge-unlink would have done at start): the memory stays mapped until the EAL goes, and
    /// nothing is left in hugetlbfs after a clean stop.
    ~capture();
    capture(const capture&) = delete;
    capture& operator=(const capture&) = delete;

private:
    void unlink_hugepage_files() const;
    std::string _prefix;
};

/// The argv rte_eal_init() gets (argv[0] included). Pure function, unit-tested.
std::vector<std::string> build_eal_args(const eal_options& opt);

/// RAII EAL: rte_eal_init in the constructor (throws std::runtime_error with rte_strerror on
/// failure), rte_eal_cleanup in the destructor (removes hugepage files).
class eal {
public:
    explicit eal(const eal_options& opt);
    ~eal();
    eal(const eal&) = delete;
    eal& operator=(const eal&) = delete;
};

}  // namespace pmd
