// SPDX-License-Identifier: MIT
// Static X25519 node keys and their files, in GVPE's layout (docs/gvpe-migration.md "Key files"):
//   CONFDIR/pubkey/NODE   public key of every node (the same set on every node), mode 0644
//   private-key path      this node's private key (`private-key`, default `hostkey`; `%s` = node
//                         name, relative to CONFDIR; `hostkeys/%s` for central keygen), mode 0600
// File format (as WireGuard's): one line, standard base64 (with padding) of the 32 key bytes,
// then "\n". Key files are never overwritten once non-empty (as gvpectrl). Private keys are wiped
// from memory when their holder is destroyed. Used by dvpectl (keygen) and dvped (startup check,
// reload). Key files are read non-blocking, must be regular files of at most 4 KiB, and a private
// key that group or others may read is refused.
// Threads: any; no shared state besides libsodium's one-time init. forbid_core_dumps() changes
// the whole process: dvped's main thread calls it once, first.
#pragma once

#include <sys/types.h>

#include <array>
#include <map>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "control/config/config.hh"
#include "control/result.hh"

namespace control {

inline constexpr size_t x25519_key_bytes = 32;

/// A public X25519 key.
struct x25519_key {
    std::array<uint8_t, x25519_key_bytes> bytes{};
    bool operator==(const x25519_key&) const = default;
};

/// A private X25519 key; the bytes are wiped (sodium_memzero) when it is destroyed.
struct x25519_private_key {
    std::array<uint8_t, x25519_key_bytes> bytes{};
    x25519_private_key() = default;
    x25519_private_key(const x25519_private_key&) = default;
    x25519_private_key& operator=(const x25519_private_key&) = default;
    ~x25519_private_key();
};

struct x25519_keypair {
    x25519_key pub;
    x25519_private_key priv;
};

/// A fresh random key pair (libsodium crypto_box_keypair).
/// \returns the pair, or an error if libsodium cannot initialise.
result<x25519_keypair, std::string> make_keypair();

/// The public key of \p priv (crypto_scalarmult_base).
x25519_key public_key_of(const x25519_private_key& priv);

/// True if \p pub is the public key of \p priv (constant-time compare). dvped refuses to run
/// when its private key does not match pubkey/SELF, as GVPE does.
bool check_keypair(const x25519_private_key& priv, const x25519_key& pub);

/// The file line of a key: base64 (sodium_base64_VARIANT_ORIGINAL) of the 32 bytes, then "\n".
std::string encode_key(const std::array<uint8_t, x25519_key_bytes>& bytes);

/// Parses the text of a key file (surrounding whitespace ignored).
/// \returns the 32 bytes, or "not valid base64" / "decodes to N bytes, expected 32".
result<std::array<uint8_t, x25519_key_bytes>, std::string> decode_key(std::string_view text);

/// Writes a public key file (mode 0644; missing parent directories are made 0755).
/// Refuses if \p path exists and is not empty. \returns an error naming the path.
result<std::monostate, std::string> write_public_key(const std::string& path, const x25519_key& key);

/// Writes a private key file with O_EXCL, mode 0600 (missing parent directories are made 0700).
/// An existing empty file is reused; an existing non-empty one is never overwritten.
result<std::monostate, std::string> write_private_key(const std::string& path, const x25519_private_key& key);

/// Reads a public key file. Errors name the path: missing, empty, bad base64, wrong length.
result<x25519_key, std::string> load_public_key(const std::string& path);

/// Reads a private key file, like load_public_key. A file that group or others may access
/// (mode & 077) is refused, as ssh refuses such a key: "... is accessible by group or others
/// (mode 0644); chmod 600 it".
result<x25519_private_key, std::string> load_private_key(const std::string& path);

/// `gvpectrl -g FILE`: a new pair, the public key in \p pub_path and the private key in
/// \p priv_path (dvpectl passes FILE and FILE.privkey). Refuses, writing nothing, if either file
/// exists and is not empty. \returns the new public key.
result<x25519_key, std::string> generate_keypair(const std::string& pub_path, const std::string& priv_path);

/// `%s` in \p fmt replaced by \p node (`%%` is a literal %), then made relative to \p confdir
/// unless absolute. Used for `private-key` of any node (config::expand_path only does self).
std::string expand_node_path(std::string_view confdir, std::string_view fmt, std::string_view node);

/// CONFDIR/pubkey/NODE.
std::string public_key_path(const config& cfg, std::string_view node);
/// The expanded `private-key` path of \p node.
std::string private_key_path(const config& cfg, std::string_view node);

/// One pair made by generate_missing_keys().
struct generated_key {
    std::string node;
    std::string pub_path;
    std::string priv_path;
};

/// `gvpectrl -G`: a pair for every node whose pubkey/NODE is missing or empty, the private key
/// at that node's `private-key` path. That needs `private-key` with `%s` (e.g. `hostkeys/%s`)
/// unless exactly one node lacks a key. Everything is checked before anything is written; a
/// node whose private key file already exists (without a public one) is an error.
/// \returns the pairs made (empty if every node has a key), or why nothing was written.
result<std::vector<generated_key>, std::string> generate_missing_keys(const config& cfg);

/// The public key of every node but the local one, by node id. A node whose pubkey/NODE cannot
/// be read is left out with a warning in \p warnings ("...; no session with it"). dvped's startup.
std::map<unsigned, std::array<uint8_t, x25519_key_bytes>> load_peer_public_keys(const config& cfg,
                                                                                std::vector<std::string>& warnings);

/// The same, all or nothing (a reload, control/config/reload.hh): every other node's key, or one
/// "node NAME: <why, naming the file>" for each key file that is missing, unreadable, not a
/// regular file, too large, truncated or garbage.
result<std::map<unsigned, std::array<uint8_t, x25519_key_bytes>>, std::vector<std::string>>
load_all_peer_public_keys(const config& cfg);

/// dvped's startup check: the private key of the local node and pubkey/SELF, which must match.
/// \returns the pair, or an error naming the file (a private key others may read is refused).
/// \p warnings: nothing is appended any more (the permission warning became that error).
result<x25519_keypair, std::string> load_node_keys(const config& cfg, std::vector<std::string>* warnings = nullptr);

/// dvped's start: a core dump (or a debugger attached by another user) would expose every key.
/// Unless \p allow (the environment variable DVPE_ALLOW_COREDUMP=1, for debugging), marks the
/// process not dumpable (prctl PR_SET_DUMPABLE 0: no core file, no ptrace attach without
/// CAP_SYS_PTRACE; inherited across fork, reset by exec, so hook scripts are not affected) and
/// sets RLIMIT_CORE to 0, soft and hard (hooks inherit that). \returns a line for the log, or an error.
result<std::string, std::string> forbid_core_dumps(bool allow);

/// mkdir -p: creates the missing directories of `dir` with exactly `mode` (umask aside); existing
/// ones are left alone. An error names the directory that could not be made, or `dir` if it is
/// not a directory. (Key directories, the control socket's directory.)
result<std::monostate, std::string> make_dirs(const std::string& dir, mode_t mode);

}  // namespace control
