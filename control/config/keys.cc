// SPDX-License-Identifier: MIT
// X25519 node keys: generation (dvpectl keygen, as gvpectrl -g / -G), key files in GVPE's layout
// and the base64 line format, loading with clear errors, and dvped's private/public match check.
// Secrets: every buffer that held private key bytes or their base64 text is wiped with
// sodium_memzero before it is released (docs/design.md §6 "Secrets").
#include "control/config/keys.hh"

#include <fcntl.h>
#include <sodium.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace control {

namespace {

constexpr size_t max_key_file_bytes = 4096;  // a key file is 45 bytes; anything big is not one

std::string errno_string(int e) { return std::strerror(e); }

bool sodium_ready() {
    static const bool ok = ::sodium_init() >= 0;  // thread-safe one-time init
    return ok;
}

/// Wipes a string that held secret text, then empties it.
void wipe(std::string& s) {
    if (!s.empty()) {
        ::sodium_memzero(s.data(), s.size());
    }
    s.clear();
}


std::string parent_dir(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos) {
        return {};
    }
    return slash == 0 ? std::string("/") : path.substr(0, slash);
}

/// True if \p path exists and has content (gvpectrl refuses to overwrite such a file).
bool exists_non_empty(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && (!S_ISREG(st.st_mode) || st.st_size > 0);
}

/// Creates \p path exclusively with \p mode and writes \p text. See write_private_key().
result<std::monostate, std::string> write_key_file(const std::string& path, const std::string& text, mode_t mode,
                                                   mode_t dir_mode) {
    if (std::string dir = parent_dir(path); !dir.empty()) {
        if (auto r = make_dirs(dir, dir_mode); !r) {
            return unexpected{r.error()};
        }
    }
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0 && errno == EEXIST) {
        if (exists_non_empty(path)) {
            return unexpected{path + " already exists (refusing to overwrite a key file)"};
        }
        // An empty regular file (e.g. made by touch) may be filled, as gvpectrl allows.
        fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
    }
    if (fd < 0) {
        return unexpected{"cannot create " + path + ": " + errno_string(errno)};
    }
    // Exact mode whatever the umask (a public key must stay readable, a private one never wider).
    if (::fchmod(fd, mode) != 0) {
        int e = errno;
        ::close(fd);
        ::unlink(path.c_str());
        return unexpected{"cannot set mode of " + path + ": " + errno_string(e)};
    }
    size_t off = 0;
    while (off < text.size()) {
        ssize_t w = ::write(fd, text.data() + off, text.size() - off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            int e = errno;
            ::close(fd);
            ::unlink(path.c_str());
            return unexpected{"cannot write " + path + ": " + errno_string(e)};
        }
        off += size_t(w);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        int e = errno;
        ::unlink(path.c_str());
        return unexpected{"cannot write " + path + ": " + errno_string(e)};
    }
    return std::monostate{};
}

/// Reads a small key file into \p out. \p st receives its stat (for the permission check).
result<std::monostate, std::string> read_key_file(const std::string& path, std::string& out, struct stat& st) {
    // O_NONBLOCK: a FIFO (or a device) in place of a key file must not block the control thread
    // in open() or read(); fstat then refuses anything that is not a regular file.
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        return unexpected{"cannot read key file " + path + ": " + errno_string(errno)};
    }
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        return unexpected{"key file " + path + " is not a regular file"};
    }
    if (st.st_size > off_t(max_key_file_bytes)) {
        ::close(fd);
        return unexpected{"key file " + path + " is too large to be a key (" + std::to_string(st.st_size) +
                          " bytes)"};
    }
    out.resize(max_key_file_bytes);
    size_t got = 0;
    for (;;) {
        ssize_t r = ::read(fd, out.data() + got, out.size() - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            int e = errno;
            ::close(fd);
            wipe(out);
            return unexpected{"cannot read key file " + path + ": " + errno_string(e)};
        }
        if (r == 0 || got + size_t(r) == out.size()) {
            got += size_t(r);
            break;
        }
        got += size_t(r);
    }
    ::close(fd);
    // Wipe the unused tail before shrinking (resize never reallocates when shrinking).
    ::sodium_memzero(out.data() + got, out.size() - got);
    out.resize(got);
    return std::monostate{};
}

/// Node names become file names under pubkey/ and in `%s` paths: they must not escape.
bool safe_node_name(std::string_view n) {
    return !n.empty() && n != "." && n != ".." && n.find('/') == std::string_view::npos &&
           n.find('\0') == std::string_view::npos;
}

/// True if \p fmt has a `%s` that is not the second half of a `%%`.
bool has_node_placeholder(std::string_view fmt) {
    for (size_t i = 0; i + 1 < fmt.size(); ++i) {
        if (fmt[i] == '%') {
            if (fmt[i + 1] == 's') {
                return true;
            }
            ++i;  // skip the escaped character (%%)
        }
    }
    return false;
}

}  // namespace

/// mkdir -p with \p mode for the directories it creates (existing ones are left alone).
result<std::monostate, std::string> make_dirs(const std::string& dir, mode_t mode) {
    if (dir.empty()) {
        return std::monostate{};
    }
    size_t pos = 0;
    while (pos != std::string::npos) {
        pos = dir.find('/', pos + 1);
        std::string part = dir.substr(0, pos);
        if (part.empty()) {
            continue;
        }
        if (::mkdir(part.c_str(), mode) == 0) {
            (void)::chmod(part.c_str(), mode);  // the exact mode, whatever the umask
        } else if (errno != EEXIST) {
            return unexpected{"cannot create directory " + part + ": " + errno_string(errno)};
        }
    }
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        return unexpected{dir + " is not a directory"};
    }
    return std::monostate{};
}

// ---- keys in memory ------------------------------------------------------------------------------

x25519_private_key::~x25519_private_key() { ::sodium_memzero(bytes.data(), bytes.size()); }

result<x25519_keypair, std::string> make_keypair() {
    if (!sodium_ready()) {
        return unexpected{std::string("libsodium initialisation failed")};
    }
    x25519_keypair kp;
    static_assert(crypto_box_PUBLICKEYBYTES == x25519_key_bytes && crypto_box_SECRETKEYBYTES == x25519_key_bytes);
    if (::crypto_box_keypair(kp.pub.bytes.data(), kp.priv.bytes.data()) != 0) {
        return unexpected{std::string("crypto_box_keypair failed")};
    }
    return kp;
}

x25519_key public_key_of(const x25519_private_key& priv) {
    (void)sodium_ready();
    x25519_key pub;
    static_assert(crypto_scalarmult_BYTES == x25519_key_bytes && crypto_scalarmult_SCALARBYTES == x25519_key_bytes);
    (void)::crypto_scalarmult_base(pub.bytes.data(), priv.bytes.data());
    return pub;
}

bool check_keypair(const x25519_private_key& priv, const x25519_key& pub) {
    x25519_key derived = public_key_of(priv);
    return ::sodium_memcmp(derived.bytes.data(), pub.bytes.data(), x25519_key_bytes) == 0;
}

std::string encode_key(const std::array<uint8_t, x25519_key_bytes>& bytes) {
    constexpr int variant = sodium_base64_VARIANT_ORIGINAL;
    std::string out(sodium_base64_ENCODED_LEN(x25519_key_bytes, variant), '\0');
    ::sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(), variant);
    out.resize(std::strlen(out.c_str()));  // drop the terminating NUL
    out += '\n';
    return out;
}

result<std::array<uint8_t, x25519_key_bytes>, std::string> decode_key(std::string_view text) {
    (void)sodium_ready();
    auto b = text.find_first_not_of(" \t\r\n");
    if (b == std::string_view::npos) {
        return unexpected{std::string("is empty")};
    }
    auto e = text.find_last_not_of(" \t\r\n");
    text = text.substr(b, e - b + 1);
    // Decode into a buffer large enough for any length, so a wrong length is reported as such.
    std::string buf(text.size(), '\0');
    size_t len = 0;
    const char* end = nullptr;
    int rc = ::sodium_base642bin(reinterpret_cast<unsigned char*>(buf.data()), buf.size(), text.data(), text.size(),
                                 nullptr, &len, &end, sodium_base64_VARIANT_ORIGINAL);
    std::array<uint8_t, x25519_key_bytes> key{};
    if (rc != 0 || end != text.data() + text.size()) {
        wipe(buf);
        return unexpected{std::string("is not valid base64 (expected one line of 44 base64 characters)")};
    }
    if (len != x25519_key_bytes) {
        wipe(buf);
        return unexpected{"decodes to " + std::to_string(len) + " bytes, expected " +
                          std::to_string(x25519_key_bytes)};
    }
    std::memcpy(key.data(), buf.data(), key.size());
    wipe(buf);
    return key;
}

// ---- key files -----------------------------------------------------------------------------------

result<std::monostate, std::string> write_public_key(const std::string& path, const x25519_key& key) {
    return write_key_file(path, encode_key(key.bytes), 0644, 0755);
}

result<std::monostate, std::string> write_private_key(const std::string& path, const x25519_private_key& key) {
    std::string text = encode_key(key.bytes);
    auto r = write_key_file(path, text, 0600, 0700);
    wipe(text);
    return r;
}

result<x25519_key, std::string> load_public_key(const std::string& path) {
    std::string text;
    struct stat st {};
    if (auto r = read_key_file(path, text, st); !r) {
        return unexpected{r.error()};
    }
    auto k = decode_key(text);
    if (!k) {
        return unexpected{"public key file " + path + " " + k.error()};
    }
    x25519_key key;
    key.bytes = k.value();
    if (sodium_is_zero(key.bytes.data(), key.bytes.size())) {
        return unexpected{"public key file " + path + " holds the all-zero key"};
    }
    return key;
}

result<x25519_private_key, std::string> load_private_key(const std::string& path) {
    std::string text;
    struct stat st {};
    if (auto r = read_key_file(path, text, st); !r) {
        return unexpected{r.error()};
    }
    // As ssh: a private key that others may read is refused, not used (it may already be known).
    if ((st.st_mode & 0077) != 0) {
        wipe(text);
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", unsigned(st.st_mode & 07777));
        return unexpected{"private key file " + path + " is accessible by group or others (mode " + mode +
                          "); chmod 600 it"};
    }
    auto k = decode_key(text);
    wipe(text);
    if (!k) {
        return unexpected{"private key file " + path + " " + k.error()};
    }
    x25519_private_key key;
    key.bytes = k.value();
    ::sodium_memzero(k.value().data(), k.value().size());
    return key;
}

result<x25519_key, std::string> generate_keypair(const std::string& pub_path, const std::string& priv_path) {
    if (pub_path == priv_path) {
        return unexpected{"public and private key files are the same file: " + pub_path};
    }
    for (const auto* p : {&pub_path, &priv_path}) {
        if (exists_non_empty(*p)) {
            return unexpected{*p + " already exists (refusing to overwrite a key file)"};
        }
    }
    auto kp = make_keypair();
    if (!kp) {
        return unexpected{kp.error()};
    }
    if (auto r = write_private_key(priv_path, kp->priv); !r) {
        return unexpected{r.error()};
    }
    if (auto r = write_public_key(pub_path, kp->pub); !r) {
        ::unlink(priv_path.c_str());  // we just made it; a private key without its public one is useless
        return unexpected{r.error()};
    }
    return kp->pub;
}

// ---- the GVPE layout -----------------------------------------------------------------------------

std::string expand_node_path(std::string_view confdir, std::string_view fmt, std::string_view node) {
    std::string p;
    for (size_t i = 0; i < fmt.size(); ++i) {
        if (fmt[i] == '%' && i + 1 < fmt.size() && (fmt[i + 1] == 's' || fmt[i + 1] == '%')) {
            if (fmt[i + 1] == 's') {
                p += node;
            } else {
                p += '%';
            }
            ++i;
            continue;
        }
        p += fmt[i];
    }
    if (p.starts_with('/') || confdir.empty()) {
        return p;
    }
    std::string out(confdir);
    if (!out.ends_with('/')) {
        out += '/';
    }
    return out + p;
}

std::string public_key_path(const config& cfg, std::string_view node) {
    return expand_node_path(cfg.confdir, "pubkey/%s", node);
}

std::string private_key_path(const config& cfg, std::string_view node) {
    return expand_node_path(cfg.confdir, cfg.global.private_key, node);
}

result<std::vector<generated_key>, std::string> generate_missing_keys(const config& cfg) {
    // Plan first, write after: either every missing pair can be made or nothing is written.
    std::vector<generated_key> plan;
    for (const auto& n : cfg.nodes) {
        if (!safe_node_name(n.name)) {
            return unexpected{"node name '" + n.name + "' cannot be used as a key file name"};
        }
        std::string pub = public_key_path(cfg, n.name);
        if (!exists_non_empty(pub)) {
            plan.push_back({n.name, pub, private_key_path(cfg, n.name)});
        }
    }
    if (plan.size() > 1 && !has_node_placeholder(cfg.global.private_key)) {
        return unexpected{std::to_string(plan.size()) + " nodes lack a public key, but private-key = " +
                          cfg.global.private_key +
                          " has no %s, so their private keys would all go to one file; set "
                          "private-key = hostkeys/%s for central key generation"};
    }
    for (const auto& g : plan) {
        if (exists_non_empty(g.priv_path)) {
            return unexpected{"node " + g.node + ": " + g.pub_path + " is missing but its private key " + g.priv_path +
                              " exists; restore the public key or remove the private key first"};
        }
    }
    std::vector<generated_key> done;
    for (auto& g : plan) {
        if (auto r = generate_keypair(g.pub_path, g.priv_path); !r) {
            std::string msg = "node " + g.node + ": " + r.error();
            if (!done.empty()) {
                msg += " (keys already generated for:";
                for (const auto& d : done) {
                    msg += " " + d.node;
                }
                msg += ")";
            }
            return unexpected{msg};
        }
        done.push_back(std::move(g));
    }
    return done;
}

namespace {

/// Every other node's public key by id; a node whose key does not load gets "node NAME: why".
std::map<unsigned, std::array<uint8_t, x25519_key_bytes>> peer_keys(const config& cfg, std::vector<std::string>& bad) {
    std::map<unsigned, std::array<uint8_t, x25519_key_bytes>> out;
    for (const auto& n : cfg.nodes) {
        if (n.id == cfg.self_node().id) {
            continue;
        }
        auto pub = load_public_key(public_key_path(cfg, n.name));
        if (pub) {
            out[n.id] = pub->bytes;
        } else {
            bad.push_back("node " + n.name + ": " + pub.error());
        }
    }
    return out;
}

}  // namespace

std::map<unsigned, std::array<uint8_t, x25519_key_bytes>> load_peer_public_keys(const config& cfg,
                                                                                std::vector<std::string>& warnings) {
    std::vector<std::string> bad;
    auto out = peer_keys(cfg, bad);
    for (auto& b : bad) {
        warnings.push_back(std::move(b) + "; no session with it");
    }
    return out;
}

result<std::map<unsigned, std::array<uint8_t, x25519_key_bytes>>, std::vector<std::string>>
load_all_peer_public_keys(const config& cfg) {
    std::vector<std::string> bad;
    auto out = peer_keys(cfg, bad);
    if (!bad.empty()) {
        return unexpected{std::move(bad)};
    }
    return out;
}

result<x25519_keypair, std::string> load_node_keys(const config& cfg, std::vector<std::string>* /*warnings*/) {
    if (cfg.nodes.empty() || cfg.self >= cfg.nodes.size()) {
        return unexpected{std::string("no local node in the configuration")};
    }
    const std::string& self = cfg.self_node().name;
    std::string priv_path = private_key_path(cfg, self);
    std::string pub_path = public_key_path(cfg, self);
    auto priv = load_private_key(priv_path);
    if (!priv) {
        return unexpected{priv.error() + " (make keys with: dvpectl -c " + cfg.confdir + " keygen -G)"};
    }
    auto pub = load_public_key(pub_path);
    if (!pub) {
        return unexpected{pub.error()};
    }
    if (!check_keypair(*priv, *pub)) {
        return unexpected{"private key " + priv_path + " does not match the public key " + pub_path + " of node " +
                          self};
    }
    x25519_keypair kp;
    kp.pub = *pub;
    kp.priv = *priv;
    return kp;
}

result<std::string, std::string> forbid_core_dumps(bool allow) {
    if (allow) {
        return std::string("core dumps allowed (DVPE_ALLOW_COREDUMP=1): a core file would hold every key");
    }
    if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        return unexpected{"prctl(PR_SET_DUMPABLE, 0): " + errno_string(errno)};
    }
    const rlimit none{0, 0};
    if (::setrlimit(RLIMIT_CORE, &none) != 0) {
        return unexpected{"setrlimit(RLIMIT_CORE, 0): " + errno_string(errno)};
    }
    return std::string("core dumps disabled (keys in memory); DVPE_ALLOW_COREDUMP=1 allows them for debugging");
}

}  // namespace control
