// SPDX-License-Identifier: MIT
// X25519 key files: generation, the base64 line format, O_EXCL refusal, load errors, the
// permission warning, the private/public match check, and `keygen -G` over a config object.
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <sstream>

#include <gtest/gtest.h>
#include <sodium.h>

#include "control/config/keys.hh"
#include "tests/unit/control/ctl/control_test_util.hh"

namespace control {
namespace {

using test::temp_dir;

std::string slurp(const std::string& path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

void spit(const std::string& path, const std::string& text, mode_t mode = 0600) {
    {
        std::ofstream f(path);
        f << text;
    }
    ::chmod(path.c_str(), mode);
}

unsigned mode_of(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? unsigned(st.st_mode & 07777) : 0xffffu;
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

config three_nodes(const std::string& confdir, const std::string& private_key) {
    config cfg;
    cfg.confdir = confdir;
    cfg.global.private_key = private_key;
    for (const char* n : {"alpha", "beta", "gamma"}) {
        node_conf nc;
        nc.name = n;
        nc.id = unsigned(cfg.nodes.size() + 1);
        cfg.nodes.push_back(nc);
    }
    return cfg;
}

TEST(keys, encode_decode_round_trip) {
    std::array<uint8_t, 32> k{};
    for (size_t i = 0; i < k.size(); ++i) {
        k[i] = uint8_t(i * 7 + 1);
    }
    std::string line = encode_key(k);
    EXPECT_EQ(line.size(), 45u);
    EXPECT_EQ(line.back(), '\n');
    auto d = decode_key(line);
    ASSERT_TRUE(d) << d.error();
    EXPECT_EQ(*d, k);
    // Surrounding whitespace and CRLF are tolerated.
    EXPECT_TRUE(decode_key("  " + line.substr(0, 44) + "\r\n"));
    // All-zero key: the known base64 text.
    EXPECT_EQ(encode_key({}), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n");
}

TEST(keys, decode_errors) {
    struct bad_case {
        std::string text;
        std::string error;
    };
    const bad_case cases[] = {
        /* 0 */ {"", "is empty"},
        /* 1 */ {" \n", "is empty"},
        /* 2 */ {"!!!!", "is not valid base64 (expected one line of 44 base64 characters)"},
        /* 3 */ {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n", "decodes to 31 bytes, expected 32"},
        /* 4 */ {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n", "decodes to 34 bytes, expected 32"},
        /* 5 */ {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", "is not valid base64 (expected one line of 44 base64 characters)"},
        /* 6 */ {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nAAAA\n",
                 "is not valid base64 (expected one line of 44 base64 characters)"},
        /* 7 */ {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA_-", "is not valid base64 (expected one line of 44 base64 characters)"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.text);
        auto d = decode_key(c.text);
        ASSERT_FALSE(d);
        EXPECT_EQ(d.error(), c.error);
    }
}

TEST(keys, generate_load_round_trip_with_modes) {
    temp_dir dir;
    std::string pub = dir / "out/alpha";
    auto g = generate_keypair(pub, pub + ".privkey");
    ASSERT_TRUE(g) << g.error();
    EXPECT_EQ(mode_of(pub), 0644u);
    EXPECT_EQ(mode_of(pub + ".privkey"), 0600u);
    EXPECT_EQ(slurp(pub).size(), 45u);

    auto priv = load_private_key(pub + ".privkey");
    ASSERT_TRUE(priv) << priv.error();
    auto p = load_public_key(pub);
    ASSERT_TRUE(p) << p.error();
    EXPECT_EQ(*p, *g);
    EXPECT_TRUE(check_keypair(*priv, *p));
    EXPECT_EQ(public_key_of(*priv), *p);
}

TEST(keys, make_keypair_is_random_and_consistent) {
    auto a = make_keypair();
    auto b = make_keypair();
    ASSERT_TRUE(a && b);
    EXPECT_NE(a->pub, b->pub);
    EXPECT_TRUE(check_keypair(a->priv, a->pub));
    EXPECT_FALSE(check_keypair(a->priv, b->pub));
    EXPECT_FALSE(check_keypair(b->priv, a->pub));
}

TEST(keys, existing_key_files_are_never_overwritten) {
    temp_dir dir;
    std::string pub = dir / "k";
    ASSERT_TRUE(generate_keypair(pub, pub + ".privkey"));
    std::string before_pub = slurp(pub), before_priv = slurp(pub + ".privkey");

    auto again = generate_keypair(pub, pub + ".privkey");
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error(), pub + " already exists (refusing to overwrite a key file)");
    EXPECT_EQ(slurp(pub), before_pub);
    EXPECT_EQ(slurp(pub + ".privkey"), before_priv);

    // Only the private one exists: still refused, and the public file is not created.
    std::string pub2 = dir / "k2";
    spit(pub2 + ".privkey", "x");
    auto r2 = generate_keypair(pub2, pub2 + ".privkey");
    ASSERT_FALSE(r2);
    EXPECT_EQ(r2.error(), pub2 + ".privkey already exists (refusing to overwrite a key file)");
    EXPECT_FALSE(exists(pub2));

    // write_private_key itself refuses too (O_EXCL), whatever the caller checked before.
    x25519_private_key k;
    auto w = write_private_key(pub + ".privkey", k);
    ASSERT_FALSE(w);
    EXPECT_EQ(slurp(pub + ".privkey"), before_priv);
}

TEST(keys, empty_files_may_be_filled) {
    temp_dir dir;
    std::string pub = dir / "e";
    spit(pub, "", 0666);
    spit(pub + ".privkey", "", 0666);
    auto g = generate_keypair(pub, pub + ".privkey");
    ASSERT_TRUE(g) << g.error();
    EXPECT_EQ(mode_of(pub + ".privkey"), 0600u);
    EXPECT_EQ(mode_of(pub), 0644u);
    EXPECT_TRUE(load_private_key(pub + ".privkey"));
}

TEST(keys, same_file_for_both_is_refused) {
    temp_dir dir;
    auto g = generate_keypair(dir / "x", dir / "x");
    ASSERT_FALSE(g);
    EXPECT_EQ(g.error(), "public and private key files are the same file: " + (dir / "x"));
}

TEST(keys, load_errors_name_the_file) {
    temp_dir dir;
    auto missing = load_public_key(dir / "nope");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error(), "cannot read key file " + (dir / "nope") + ": No such file or directory");

    spit(dir / "short", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n");
    auto s = load_private_key(dir / "short");
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error(), "private key file " + (dir / "short") + " decodes to 31 bytes, expected 32");

    spit(dir / "garbage", "-----BEGIN RSA PUBLIC KEY-----\nMIIB\n-----END RSA PUBLIC KEY-----\n", 0644);
    auto gb = load_public_key(dir / "garbage");
    ASSERT_FALSE(gb);
    EXPECT_EQ(gb.error(), "public key file " + (dir / "garbage") +
                              " is not valid base64 (expected one line of 44 base64 characters)");

    spit(dir / "empty", "", 0644);
    auto e = load_public_key(dir / "empty");
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error(), "public key file " + (dir / "empty") + " is empty");

    spit(dir / "zero", encode_key({}), 0644);
    auto z = load_public_key(dir / "zero");
    ASSERT_FALSE(z);
    EXPECT_EQ(z.error(), "public key file " + (dir / "zero") + " holds the all-zero key");

    ::mkdir((dir / "adir").c_str(), 0755);
    auto d = load_public_key(dir / "adir");
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error(), "key file " + (dir / "adir") + " is not a regular file");

    spit(dir / "huge", std::string(10000, 'A'), 0644);
    auto h = load_public_key(dir / "huge");
    ASSERT_FALSE(h);
    EXPECT_EQ(h.error(), "key file " + (dir / "huge") + " is too large to be a key (10000 bytes)");
}

TEST(keys, private_key_readable_by_others_is_refused) {
    // As ssh: a private key others may read is not used at all (dvped refuses to start or reload).
    temp_dir dir;
    ASSERT_TRUE(generate_keypair(dir / "k", dir / "k.privkey"));
    for (mode_t mode : {0644, 0640, 0604, 0660, 0601}) {
        ::chmod((dir / "k.privkey").c_str(), mode);
        auto k = load_private_key(dir / "k.privkey");
        ASSERT_FALSE(k) << std::oct << mode;
        char m[8];
        std::snprintf(m, sizeof m, "%04o", unsigned(mode));
        EXPECT_EQ(k.error(), "private key file " + (dir / "k.privkey") + " is accessible by group or others (mode " +
                                 m + "); chmod 600 it");
    }
    for (mode_t mode : {0600, 0400}) {
        ::chmod((dir / "k.privkey").c_str(), mode);
        EXPECT_TRUE(load_private_key(dir / "k.privkey")) << std::oct << mode;
    }
    // dvped's startup check fails the same way.
    config cfg = three_nodes(dir.path(), "hostkeys/%s");
    ASSERT_TRUE(generate_keypair(dir / "pubkey/alpha", dir / "hostkeys/alpha"));
    ASSERT_TRUE(load_node_keys(cfg));
    ::chmod((dir / "hostkeys/alpha").c_str(), 0644);
    auto kp = load_node_keys(cfg);
    ASSERT_FALSE(kp);
    EXPECT_NE(kp.error().find("private key file " + (dir / "hostkeys/alpha") +
                              " is accessible by group or others (mode 0644); chmod 600 it"),
              std::string::npos)
        << kp.error();
}

TEST(keys, fifo_key_file_never_blocks) {
    temp_dir dir;
    const std::string fifo = dir / "fifo";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    for (bool priv : {false, true}) {
        auto fut = std::async(std::launch::async, [&]() -> std::string {
            if (priv) {
                auto r = load_private_key(fifo);
                return r ? std::string() : r.error();
            }
            auto r = load_public_key(fifo);
            return r ? std::string() : r.error();
        });
        if (fut.wait_for(std::chrono::seconds(5)) == std::future_status::timeout) {
            ADD_FAILURE() << "loading a key blocked on the FIFO " << fifo;
            for (int i = 0; i < 2 && fut.wait_for(std::chrono::milliseconds(100)) == std::future_status::timeout;) {
                int w = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);  // unblock the reader
                if (w >= 0) {
                    ::close(w);
                    ++i;
                }
            }
        }
        EXPECT_EQ(fut.get(), "key file " + fifo + " is not a regular file");
    }
}

TEST(keys, forbid_core_dumps_in_a_child) {
    // In a forked child (the test process keeps its own settings): not dumpable, no core size.
    for (bool allow : {false, true}) {
        pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            auto r = forbid_core_dumps(allow);
            rlimit rl{};
            ::getrlimit(RLIMIT_CORE, &rl);
            const int dumpable = ::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
            const bool off = dumpable == 0 && rl.rlim_cur == 0 && rl.rlim_max == 0;
            ::_exit(!r.has_value() ? 3 : allow ? (dumpable == 1 ? 0 : 2) : (off ? 0 : 1));
        }
        int st = 0;
        ASSERT_EQ(::waitpid(pid, &st, 0), pid);
        ASSERT_TRUE(WIFEXITED(st));
        EXPECT_EQ(WEXITSTATUS(st), 0) << (allow ? "DVPE_ALLOW_COREDUMP left the process dumpable"
                                                : "still dumpable or RLIMIT_CORE not 0");
    }
}

TEST(keys, private_key_is_wiped_on_destruction) {
    alignas(x25519_private_key) unsigned char storage[sizeof(x25519_private_key)];
    auto* k = new (storage) x25519_private_key;
    k->bytes.fill(0xAB);
    k->~x25519_private_key();
    // Reading the storage of a destroyed object is outside the C++ model but well defined for
    // this trivial byte array in practice; it is the only way to observe the wipe.
    EXPECT_TRUE(sodium_is_zero(storage, sizeof storage));
}

TEST(keys, expand_node_path) {
    EXPECT_EQ(expand_node_path("/etc/dvpe", "hostkeys/%s", "beta"), "/etc/dvpe/hostkeys/beta");
    EXPECT_EQ(expand_node_path("/etc/dvpe/", "hostkey", "beta"), "/etc/dvpe/hostkey");
    EXPECT_EQ(expand_node_path("/etc/dvpe", "/keys/%s.key", "beta"), "/keys/beta.key");
    EXPECT_EQ(expand_node_path("/etc/dvpe", "100%%/%s", "beta"), "/etc/dvpe/100%/beta");
    EXPECT_EQ(expand_node_path("", "k/%s", "b"), "k/b");
    config cfg = three_nodes("/c", "hostkeys/%s");
    EXPECT_EQ(public_key_path(cfg, "gamma"), "/c/pubkey/gamma");
    EXPECT_EQ(private_key_path(cfg, "gamma"), "/c/hostkeys/gamma");
}

TEST(keys, generate_missing_keys_central_layout) {
    temp_dir dir;
    config cfg = three_nodes(dir.path(), "hostkeys/%s");
    // beta already has a key: only alpha and gamma get one.
    ASSERT_TRUE(generate_keypair(dir / "pubkey/beta", dir / "hostkeys/beta"));
    std::string beta_before = slurp(dir / "pubkey/beta");
    auto r = generate_missing_keys(cfg);
    ASSERT_TRUE(r) << r.error();
    ASSERT_EQ(r->size(), 2u);
    EXPECT_EQ((*r)[0].node, "alpha");
    EXPECT_EQ((*r)[0].pub_path, dir / "pubkey/alpha");
    EXPECT_EQ((*r)[0].priv_path, dir / "hostkeys/alpha");
    EXPECT_EQ((*r)[1].node, "gamma");
    EXPECT_EQ(slurp(dir / "pubkey/beta"), beta_before);
    EXPECT_EQ(mode_of(dir / "hostkeys"), 0700u);
    EXPECT_EQ(mode_of(dir / "pubkey"), 0755u);
    for (const char* n : {"alpha", "beta", "gamma"}) {
        auto priv = load_private_key(dir / (std::string("hostkeys/") + n));
        auto pub = load_public_key(dir / (std::string("pubkey/") + n));
        ASSERT_TRUE(priv && pub) << n;
        EXPECT_TRUE(check_keypair(*priv, *pub)) << n;
        EXPECT_EQ(mode_of(dir / (std::string("hostkeys/") + n)), 0600u);
    }
    // Nothing left to do.
    auto again = generate_missing_keys(cfg);
    ASSERT_TRUE(again);
    EXPECT_TRUE(again->empty());

    // load_node_keys for each node as self.
    for (size_t i = 0; i < cfg.nodes.size(); ++i) {
        cfg.self = i;
        auto kp = load_node_keys(cfg);
        ASSERT_TRUE(kp) << kp.error();
    }
}

TEST(keys, generate_missing_keys_without_placeholder) {
    temp_dir dir;
    config cfg = three_nodes(dir.path(), "hostkey");
    auto r = generate_missing_keys(cfg);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(),
              "3 nodes lack a public key, but private-key = hostkey has no %s, so their private keys would all go "
              "to one file; set private-key = hostkeys/%s for central key generation");
    EXPECT_FALSE(exists(dir / "pubkey"));
    EXPECT_FALSE(exists(dir / "hostkey"));

    // `%%s` is a literal "%s", not a placeholder.
    cfg.global.private_key = "key%%s";
    EXPECT_FALSE(generate_missing_keys(cfg));

    // Exactly one node missing: its private key goes to the single path.
    cfg.global.private_key = "hostkey";
    ASSERT_TRUE(generate_keypair(dir / "pubkey/alpha", dir / "elsewhere/alpha.privkey"));
    ASSERT_TRUE(generate_keypair(dir / "pubkey/gamma", dir / "elsewhere/gamma.privkey"));
    auto one = generate_missing_keys(cfg);
    ASSERT_TRUE(one) << one.error();
    ASSERT_EQ(one->size(), 1u);
    EXPECT_EQ((*one)[0].node, "beta");
    EXPECT_EQ((*one)[0].priv_path, dir / "hostkey");
    cfg.self = 1;
    EXPECT_TRUE(load_node_keys(cfg));
}

TEST(keys, generate_missing_keys_refuses_orphan_private_key) {
    temp_dir dir;
    config cfg = three_nodes(dir.path(), "hostkeys/%s");
    ::mkdir((dir / "hostkeys").c_str(), 0700);
    spit(dir / "hostkeys/beta", encode_key({1}));
    auto r = generate_missing_keys(cfg);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), "node beta: " + (dir / "pubkey/beta") + " is missing but its private key " +
                             (dir / "hostkeys/beta") +
                             " exists; restore the public key or remove the private key first");
    EXPECT_FALSE(exists(dir / "pubkey/alpha"));  // all or nothing
}

TEST(keys, generate_missing_keys_rejects_unsafe_names) {
    temp_dir dir;
    config cfg = three_nodes(dir.path(), "hostkeys/%s");
    cfg.nodes[1].name = "../evil";
    auto r = generate_missing_keys(cfg);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), "node name '../evil' cannot be used as a key file name");
}

TEST(keys, load_node_keys_mismatch) {
    temp_dir dir;
    config cfg = three_nodes(dir.path(), "hostkeys/%s");
    ASSERT_TRUE(generate_keypair(dir / "pubkey/alpha", dir / "hostkeys/alpha"));
    ASSERT_TRUE(generate_keypair(dir / "other", dir / "other.privkey"));
    // Replace alpha's public key with another pair's.
    ::unlink((dir / "pubkey/alpha").c_str());
    spit(dir / "pubkey/alpha", slurp(dir / "other"), 0644);
    auto kp = load_node_keys(cfg);
    ASSERT_FALSE(kp);
    EXPECT_EQ(kp.error(), "private key " + (dir / "hostkeys/alpha") + " does not match the public key " +
                              (dir / "pubkey/alpha") + " of node alpha");

    cfg.self = 1;  // beta has no keys at all
    auto none = load_node_keys(cfg);
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error(), "cannot read key file " + (dir / "hostkeys/beta") +
                                ": No such file or directory (make keys with: dvpectl -c " + dir.path() +
                                " keygen -G)");
}

}  // namespace
}  // namespace control
