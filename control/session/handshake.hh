// SPDX-License-Identifier: MIT
// The handshake protocol core: Noise_IK_25519_ChaChaPoly_BLAKE2b (Noise spec rev 34) between the
// static X25519 keys of two nodes, with WireGuard's structure (whitepaper §5.4: mac1/mac2, cookie
// replies, TAI64N timestamps against replay) adapted to dvpe's 8-byte common header
// (docs/protocol.md "Handshake"). Sans-IO (docs/design.md §3): bytes and the caller's clock in, bytes,
// typed results and counters out; no sockets, no EAL, no clock reads. Every random byte comes from
// an injectable source so transcripts are reproducible in tests.
//
//   IK:
//     <- s                                  (every node knows every node's static key)
//     ...
//     -> e, es, s, ss   + payload {timestamp, serial, protocols, flags}      initiation (type 2)
//     <- e, ee, se      + payload {serial, protocols, flags}                 response   (type 3)
//   prologue = "dvpe v1" || initiator node id (u16 BE) || responder node id (u16 BE)
//   Split(): initiator sends with k1 and receives with k2; the responder the other way round.
//
// Checks run cheapest first: size, version, type, dst, src, mac1 (one keyed hash, before any DH),
// mac2/cookie when the caller is under load, per-source rate limit, then the Noise work.
// Threads: control thread only; one `protocol` per local node, not thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "control/result.hh"
#include "crypto/secret.hh"
#include "transports/wire.hh"

namespace control::handshake {

// ---------------------------------------------------------------------------------------------
// Wire constants (docs/protocol.md "Handshake"; docs/design.md §7: limits grouped by topic)

// The protocol version and message types are the wire's (transports/wire.hh), one definition.
using transport::message_type;
using transport::protocol_version;

inline constexpr size_t header_len = 8;
inline constexpr size_t key_len = 32;          ///< X25519 public key, chaining-key halves
inline constexpr size_t tag_len = 16;          ///< ChaChaPoly tag
inline constexpr size_t mac_len = 16;          ///< mac1, mac2, cookie
inline constexpr size_t timestamp_len = 12;    ///< TAI64N: u64 seconds + u32 nanoseconds, BE
inline constexpr size_t serial_len = 16;
inline constexpr size_t cookie_nonce_len = 24; ///< XChaCha20-Poly1305

/// Byte offsets of the initiation (type 2). Payload plaintext: timestamp(12) serial(16)
/// protocols(1) flags(1) reserved(2).
namespace initiation_layout {
inline constexpr size_t sender_key_id = 5;
inline constexpr size_t unencrypted_ephemeral = header_len;                        // 8
inline constexpr size_t encrypted_static = unencrypted_ephemeral + key_len;         // 40
inline constexpr size_t payload_plain_len = timestamp_len + serial_len + 4;         // 32
inline constexpr size_t encrypted_payload = encrypted_static + key_len + tag_len;   // 88
inline constexpr size_t mac1 = encrypted_payload + payload_plain_len + tag_len;     // 136
inline constexpr size_t mac2 = mac1 + mac_len;                                      // 152
inline constexpr size_t size = mac2 + mac_len;                                      // 168
}  // namespace initiation_layout

/// Byte offsets of the response (type 3). Payload plaintext: serial(16) protocols(1) flags(1)
/// reserved(2).
namespace response_layout {
inline constexpr size_t sender_key_id = 5;
inline constexpr size_t receiver_key_id = 6;
inline constexpr size_t unencrypted_ephemeral = header_len;                        // 8
inline constexpr size_t payload_plain_len = serial_len + 4;                         // 20
inline constexpr size_t encrypted_payload = unencrypted_ephemeral + key_len;        // 40
inline constexpr size_t mac1 = encrypted_payload + payload_plain_len + tag_len;     // 76
inline constexpr size_t mac2 = mac1 + mac_len;                                      // 92
inline constexpr size_t size = mac2 + mac_len;                                      // 108
}  // namespace response_layout

/// Byte offsets of the cookie reply (type 4).
namespace cookie_reply_layout {
inline constexpr size_t receiver_key_id = 5;
inline constexpr size_t nonce = header_len;                                         // 8
inline constexpr size_t encrypted_cookie = nonce + cookie_nonce_len;                // 32
inline constexpr size_t size = encrypted_cookie + mac_len + tag_len;                // 64
}  // namespace cookie_reply_layout

static_assert(initiation_layout::size == 168);
static_assert(response_layout::size == 108);
static_assert(cookie_reply_layout::size == 64);

/// Timing and flood limits; the defaults are WireGuard's where it has one.
struct limits {
    uint64_t cookie_secret_rotate_ns = 120'000'000'000;  ///< responder's cookie secret lifetime
    uint64_t cookie_valid_ns = 115'000'000'000;          ///< initiator uses a cookie this long (120 s - 5 s latency)
    uint64_t pending_timeout_ns = 90'000'000'000;        ///< a response later than this is stale
    uint32_t rate_per_s = 20;                             ///< per-source token bucket refill
    uint32_t burst = 5;                                   ///< per-source token bucket size
    size_t max_sources = 16384;                           ///< rate-limiter table bound
};

// ---------------------------------------------------------------------------------------------
// Inputs and outputs

/// The caller's clock. `mono_ns` drives timers, rate limits and cookie lifetimes; `wall_ns`
/// (Unix epoch) is only written into initiation timestamps, which must grow across restarts.
struct clock_reading {
    uint64_t mono_ns = 0;
    uint64_t wall_ns = 0;
};

/// The local node.
struct identity {
    uint16_t node_id = 0;
    crypto::secret<32> static_private;
    std::array<uint8_t, key_len> static_public{};
    std::array<uint8_t, serial_len> serial{};  ///< config `serial`, zero padded
    uint8_t protocols = 0;                      ///< GVPE protocol bitmask (control/config/config.hh protocol_bit)
    uint8_t flags = 0;                          ///< sent as is; no flag is defined in version 1
    /// The data-plane AEAD suite (config `cipher`) as cipher_id(): 0 = not said (nodes built
    /// before it was sent), never compared. Two nodes that say different suites refuse.
    uint8_t cipher = 0;
};

/// The payload byte of a suite (crypto::suite + 1; 0: not said).
[[nodiscard]] constexpr uint8_t cipher_id(uint8_t suite) noexcept { return static_cast<uint8_t>(suite + 1); }

/// Zero-pads a config `serial` (at most 16 bytes; longer is truncated, the validator forbids it).
std::array<uint8_t, serial_len> make_serial(std::string_view s) noexcept;

/// Keys of one completed handshake, from the final Noise Split(). The data plane keys its AEAD
/// with the first N bytes of `send`/`recv`, N the suite's key length (AES-128-GCM: 16).
struct session_keys {
    uint16_t peer_id = 0;
    uint8_t send_key_id = 0;  ///< chosen by the peer; goes into data packets we send
    uint8_t recv_key_id = 0;  ///< chosen by us; data packets to us carry it
    crypto::secret<32> send;
    crypto::secret<32> recv;
    bool initiator = false;
    uint64_t established_ns = 0;  ///< clock_reading::mono_ns when the handshake completed here
    uint8_t peer_protocols = 0;
    uint8_t peer_flags = 0;
};

/// Why a message was not accepted (docs/design.md §8). Each has a counter in `counters`.
enum class reject : uint8_t {
    bad_length,            ///< size is not the exact size of its type
    bad_version,
    bad_type,
    wrong_dst,             ///< dst node id is not ours
    unknown_src,           ///< src node id is not a configured peer
    peer_disabled,         ///< src node is `connect = disabled`
    bad_mac1,
    cookie_required,       ///< under load without a valid mac2: a cookie reply was produced
    rate_limited,
    decrypt_failed,        ///< a Noise AEAD or the cookie AEAD did not open
    wrong_static_key,      ///< the initiator's static key is not the configured key of src
    low_order_point,       ///< an ephemeral key gives an all-zero DH
    replayed_initiation,   ///< timestamp equal to the greatest accepted from that peer
    stale_timestamp,       ///< timestamp older than the greatest accepted from that peer
    unexpected_response,   ///< no pending initiation with that key id (or it timed out)
    unexpected_cookie,     ///< no message of ours that this cookie reply answers
    serial_mismatch,       ///< config serials differ (docs/gvpe-migration.md "Serial")
    no_key_id,             ///< every receive key id of the peer is in use
    cipher_mismatch,       ///< the peer's data-plane cipher is not ours (both said one)
    count_
};
inline constexpr size_t n_reject = static_cast<size_t>(reject::count_);

inline constexpr std::array<std::string_view, n_reject> reject_names = {
    "bad length",       "bad version",      "bad type",
    "wrong dst",        "unknown src",      "peer disabled",
    "bad mac1",         "cookie required",  "rate limited",
    "decrypt failed",   "wrong static key", "low order point",
    "replayed initiation", "stale timestamp", "unexpected response",
    "unexpected cookie", "serial mismatch", "no key id",
    "cipher mismatch",
};
[[nodiscard]] constexpr std::string_view to_string(reject r) noexcept {
    return static_cast<size_t>(r) < n_reject ? reject_names[static_cast<size_t>(r)] : "?";
}

/// Comparison of the peer's serial with ours (bytewise, as GVPE's strncmp of the 16 bytes).
enum class serial_order : uint8_t { equal, peer_newer, peer_older };

/// What consume() did with one message.
enum class outcome : uint8_t {
    rejected,       ///< see `reason`; `reply` holds a cookie reply when reason == cookie_required,
                    ///< a refusal (a response without keys, docs/protocol.md "Refusal") when an
                    ///< initiation was rejected for serial_mismatch
    responded,      ///< we were the responder: `reply` is the response, `keys` the new keys
    completed,      ///< we were the initiator: `keys` are the new keys, nothing to send
    cookie_stored,  ///< a cookie reply was accepted; the next message to `peer_id` carries mac2
};

struct consumed {
    outcome what = outcome::rejected;
    std::optional<reject> reason;
    message_type type = message_type::data;  ///< header type (data if too short to tell)
    uint16_t peer_id = 0;                    ///< header src if the header was readable, else 0
    std::vector<uint8_t> reply;              ///< bytes to send back to the message's source
    std::optional<session_keys> keys;
    serial_order serial = serial_order::equal;  ///< meaningful when reason == serial_mismatch
    /// On a rejection: the message proved that its sender holds the private key of the static
    /// key configured for `peer_id` (a Noise AEAD keyed by that key opened), so the reason is
    /// that peer's doing, not a forger's. Only serial_mismatch (both directions) is; every earlier reason can be produced by anyone who knows the node ids and our public
    /// key (docs/protocol.md "Misconfigured peers"). An authenticated initiation may still be a
    /// replay of one the peer sent earlier.
    bool authenticated = false;
    /// serial_mismatch: the peer's serial (zero padded, as sent).
    std::array<uint8_t, serial_len> peer_serial{};
    /// wrong_static_key: the static key the initiation carried (the key its sender holds).
    std::array<uint8_t, key_len> claimed_static{};
    /// bad_version: the version the sender speaks (`peer_id` is read from the header anyway).
    uint8_t peer_version = 0;
    /// cipher_mismatch: the cipher id the peer said (cipher_id()).
    uint8_t peer_cipher = 0;
    /// decrypt_failed: which AEAD did not open (initiation static / initiation payload /
    /// response payload / cookie).
    enum class aead : uint8_t { none, initiation_static, initiation_payload, response, cookie } failed_aead = aead::none;
};

/// An initiation built by create_initiation(); send `bytes` to the peer's endpoint.
struct initiation {
    std::vector<uint8_t> bytes;
    uint8_t local_key_id = 0;
};

enum class create_error : uint8_t { unknown_peer, peer_disabled, no_key_id };
[[nodiscard]] std::string_view to_string(create_error e) noexcept;

/// Message and reject counters (all handshake traffic of this node).
struct counters {
    std::array<uint64_t, n_reject> rejected{};
    uint64_t received_initiations = 0, received_responses = 0, received_cookie_replies = 0;
    uint64_t sent_initiations = 0, sent_responses = 0, sent_cookie_replies = 0;
    uint64_t sent_refusals = 0;  ///< responses without keys to an initiation refused for its serial
    uint64_t completed_initiator = 0, completed_responder = 0, cookies_stored = 0;
    [[nodiscard]] uint64_t rejected_of(reject r) const noexcept { return rejected[static_cast<size_t>(r)]; }
};

/// Fills the span with random bytes; defaults to crypto::random_bytes. Tests inject their own.
using random_source = std::function<void(std::span<uint8_t>)>;

/// A set of key ids (0 is never used: it marks "none" on the wire and in logs).
class key_id_set {
public:
    void insert(uint8_t id) noexcept { _bits[id >> 6U] |= 1ULL << (id & 63U); }
    void erase(uint8_t id) noexcept { _bits[id >> 6U] &= ~(1ULL << (id & 63U)); }
    [[nodiscard]] bool contains(uint8_t id) const noexcept { return ((_bits[id >> 6U] >> (id & 63U)) & 1U) != 0; }
    [[nodiscard]] size_t size() const noexcept;
    void clear() noexcept { _bits = {}; }

private:
    std::array<uint64_t, 4> _bits{};
};

/// The key id after `last` (cyclic over 1..255) that is not in `live`; nullopt if all are.
/// Cycling rather than reusing the lowest free id keeps a just-retired id out of use for as long
/// as possible, so a late packet under an old key never meets a new key with the same id.
[[nodiscard]] std::optional<uint8_t> pick_key_id(const key_id_set& live, uint8_t last) noexcept;

// ---------------------------------------------------------------------------------------------
// The protocol core

class protocol {
public:
    /// \param id    the local node; its public key must match its private key (not rechecked).
    /// \param lim   flood and timing limits.
    /// \param rng   random bytes for ephemeral keys, cookie secrets and nonces (nullptr: system).
    explicit protocol(identity id, limits lim = {}, random_source rng = nullptr);
    ~protocol();
    protocol(const protocol&) = delete;
    protocol& operator=(const protocol&) = delete;

    // --- peers (config load and reload) ---

    /// Adds or updates a peer and precomputes its static-static DH, mac1/cookie keys and the
    /// initial Noise states for both roles. A changed key drops the peer's pending initiation,
    /// cookie and replay timestamp. \param accept false for `connect = disabled`: its messages
    /// are rejected as peer_disabled before any work. \returns false (and adds nothing) for an id
    /// of 0/ours/above 4095 or a low-order public key.
    [[nodiscard]] bool set_peer(uint16_t id, const std::array<uint8_t, key_len>& pub, bool accept = true);
    void remove_peer(uint16_t id) noexcept;
    [[nodiscard]] bool has_peer(uint16_t id) const noexcept;

    // --- initiator ---

    /// Builds an initiation to `peer` with a fresh ephemeral key and a newly picked receive key
    /// id. The pending state (ephemeral, chaining key, hash) replaces any earlier one of that peer
    /// and waits for the response. mac2 is filled in if a fresh cookie from the peer is held.
    result<initiation, create_error> create_initiation(uint16_t peer, clock_reading now);

    /// Forgets the pending initiation to `peer` (its key id is released).
    void cancel_initiation(uint16_t peer) noexcept;
    /// True if an initiation to `peer` waits for its response; `since` gets its creation time.
    [[nodiscard]] bool has_pending(uint16_t peer, uint64_t* since_mono_ns = nullptr) const noexcept;

    // --- any received handshake message ---

    /// Consumes one message of type 2, 3 or 4. Never throws for bad input.
    /// \param msg        the dvpe message, common header first, nothing after it
    /// \param source     the transport's source address bytes (opaque; keys the cookie, and
    ///                   answers go there)
    /// \param under_load the caller's handshake queue is filling: demand a valid mac2
    /// \param source_ip  the sender's IP address (4 or 16 bytes), which keys the per-source rate
    ///                   limit: an IPv6 address counts by its /64 prefix, and transport ports are
    ///                   not part of it, so rotating the UDP source port draws from the same
    ///                   bucket. Empty: `source` itself keys it (callers whose source is an address).
    consumed consume(std::span<const uint8_t> msg, std::span<const uint8_t> source, clock_reading now,
                     bool under_load, std::span<const uint8_t> source_ip = {});

    /// Does `msg` (an initiation or response to us from a known peer) carry a mac2 valid for
    /// `source` now -- has its sender proved it receives at that address? Two keyed hashes, no
    /// DH, no counter or state changes (the cookie secret may rotate, as in consume()). The
    /// daemon asks this of messages its drain budget would drop, so a flood that cannot
    /// receive at its spoofed sources never crowds out a sender that answered a cookie reply.
    /// consume() still checks everything (mac1 included) when the message is admitted.
    [[nodiscard]] bool proves_source(std::span<const uint8_t> msg, std::span<const uint8_t> source,
                                     clock_reading now) noexcept;

    // --- key ids ---

    /// Returns a receive key id handed out in a completed handshake to the pool once the caller
    /// has retired that key (session_keys::recv_key_id). Ids of pending initiations are managed
    /// here.
    void release_key_id(uint16_t peer, uint8_t key_id) noexcept;
    /// Receive key ids of `peer` currently reserved (pending + not yet released).
    [[nodiscard]] key_id_set live_key_ids(uint16_t peer) const noexcept;

    [[nodiscard]] const counters& stats() const noexcept { return _stats; }
    [[nodiscard]] uint16_t node_id() const noexcept;
    /// A new config `serial` (reload): sent and compared from the next message on; sessions
    /// already up are not touched.
    void set_serial(const std::array<uint8_t, serial_len>& serial) noexcept;

private:
    struct impl;
    std::unique_ptr<impl> _impl;
    counters _stats;
};

}  // namespace control::handshake
