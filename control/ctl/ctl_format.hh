// SPDX-License-Identifier: MIT
// dvpectl's output for people: the `status` and `config` replies of the control socket
// (docs/control.md has the schemas) rendered as aligned text tables. Pure functions of the JSON
// they are given, so tests feed them fixed replies. Missing or mistyped fields print as 0 / "-"
// instead of throwing: a newer or older daemon must not make the CLI crash.
// Threads: any (no state).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace control {

/// A text table: a header row, then rows; columns separated by two spaces, each as wide as its
/// widest cell. Right-aligned columns are for numbers. Trailing spaces are trimmed.
class text_table {
public:
    /// \param header column titles; \param right which columns are right-aligned (may be shorter).
    explicit text_table(std::vector<std::string> header, std::vector<bool> right = {});
    void add_row(std::vector<std::string> cells);
    [[nodiscard]] size_t n_rows() const noexcept { return _rows.size(); }
    /// Every line ends with '\n'; \p indent is prepended to each.
    [[nodiscard]] std::string str(const std::string& indent = "") const;

private:
    std::vector<std::string> _header;
    std::vector<bool> _right;
    std::vector<std::vector<std::string>> _rows;
};

/// `status` for people: a node line, then the ports, workers and non-zero drops tables.
/// With \p previous (an earlier `status` reply of the same daemon), rates over the interval
/// between the two samples (from uptime_s) are shown instead of totals where it matters:
/// packets/s and Mbit/s per port, packets/s, empty polls and busy time per worker, drops/s.
std::string format_status(const nlohmann::json& status, const nlohmann::json* previous = nullptr);

/// `status --watch`'s peer table, as `tinc top` shows it: packets and Mbit/s each way per peer
/// over \p dt seconds between two `peers` replies, the busiest first (at most \p max_rows,
/// then how many more); a peer new in \p peers counts from zero. Empty without peers or dt <= 0.
std::string format_peer_rates(const nlohmann::json& peers, const nlohmann::json& previous, double dt,
                              size_t max_rows = 20);

/// `neighbours` for people: the underlay neighbour table (PORT, ADDRESS, MAC, STATE, AGE,
/// REQUESTS), from the control socket's `neighbours` reply; "no neighbours" when empty.
std::string format_neighbours(const nlohmann::json& reply);

/// `config` for people: the header lines and the node table of `gvpectrl -s`
/// (`ID# MAC Conmode Node Prot Host:Port RPrio`).
std::string format_config(const nlohmann::json& config);

/// `peers` for people, in `wg show`'s shape: a block per peer (all, or the one named \p only;
/// empty if there is none) with its state, endpoint (transport, address, port or ICMP role,
/// relaying router, roamed address), latest handshake, transfer, key age and counters, and the
/// last handshake failure.
std::string format_peers(const nlohmann::json& peers, const std::string& only = std::string());

/// OpenMetrics text (https://openmetrics.io, what Prometheus and node_exporter's textfile
/// collector read) from a `status` and a `peers` reply: build info, uptime, per port, per worker
/// (packets, bytes, polls, busy cycles) and per peer (up, packets, bytes, latest handshake age,
/// handshakes, refusals by reason) counters, drops by reason; ends with "# EOF". Every sample
/// carries a `node` label; label values are escaped; a port, worker, peer or reason a reply
/// lacks has no sample, a counter it lacks reads 0. \p prometheus: the Prometheus text format
/// instead (what node_exporter's textfile collector parses: counters' "# TYPE" lines name the
/// `_total` series, no "# EOF").
std::string format_metrics(const nlohmann::json& status, const nlohmann::json& peers, const std::string& version,
                           bool prometheus = false);

/// 1536 -> "1.50 KiB", 512 -> "512 B" (binary units, as `wg show`).
std::string format_bytes(uint64_t bytes);

/// `help` for people: one line per command.
std::string format_help(const nlohmann::json& help);

/// 12.5 -> "0:00:12", 90061 -> "1d 01:01:01".
std::string format_duration(double seconds);
/// A value such as rekey or keepalive: integral values without decimals ("3607"), others with
/// up to 3 significant decimals ("0.5").
std::string format_number(double v);
/// "host:port", "[v6]:port", or "-:port" when there is no hostname.
std::string format_host_port(const std::string& host, uint64_t port);

}  // namespace control
