// opts_abi_test.cpp - struct connectx_opts by the kernel's rule for extensible structs (openat2,
// clone3): below the first published layout EINVAL with nothing read past `size` and nothing
// written through `result`; larger with a zero tail accepted, with a non-zero one E2BIG. And
// every input is read before any output is written: the result may overlay dst or src.
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "support/netns.hpp"
#include "support/udp_util.hpp"
#include "support/unique_fd.hpp"

namespace {

using cxtest::dst_v4;
using cxtest::v4;

constexpr uint32_t kFirstLayout = 24;   // size .. result: the layout of version 0.1
constexpr uint32_t kSecondLayout = 48;  // .. pool_prefix: the source pool (layout 1)

// Two pages, the second inaccessible: an object placed at the end of the first has nothing
// readable after it.
struct guarded_page {
    char* base;
    long page = sysconf(_SC_PAGESIZE);
    guarded_page() {
        base = static_cast<char*>(
            mmap(nullptr, size_t(2 * page), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
        EXPECT_NE(base, MAP_FAILED);
        EXPECT_EQ(mprotect(base + page, size_t(page), PROT_NONE), 0);
    }
    ~guarded_page() { munmap(base, size_t(2 * page)); }
    // `n` bytes ending at the guard.
    void* tail(size_t n) { return base + page - long(n); }
};

int call(int fd, const cx::address& dst, const connectx_opts* o) {
    return connectx(fd, nullptr, 0, dst.sa(), dst.size(), o) == 0 ? 0 : errno;
}

TEST(OptsAbi, LayoutsAppendTheFirstIsTwentyFourBytesThePoolOneFortyEight) {
    EXPECT_EQ(offsetof(connectx_opts, pool), kFirstLayout) << "the pool fields append";
    EXPECT_EQ(sizeof(connectx_opts), kSecondLayout) << "a new field appends: keep this test's "
                                                       "layouts, add the new one";
}

TEST(OptsAbiNetns, FirstLayoutAtTheEndOfAPageIsAcceptedWithoutReadingThePoolFields) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        guarded_page g;
        auto* o = static_cast<connectx_opts*>(g.tail(kFirstLayout));
        std::memset(o, 0, kFirstLayout);
        o->size = kFirstLayout;
        cxtest::unique_fd fd(cxtest::udp_socket(AF_INET));
        EXPECT_EQ(call(fd, dst_v4(0, 53), o), 0) << "an old program's opts, no pool";
    });
}

TEST(OptsAbiNetns, ShortOptsAtTheEndOfAPageIsEinvalWithoutReadingPastSize) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        guarded_page g;
        for (uint32_t size : {4u, 8u, 16u, 20u}) {
            void* at = g.tail(size);
            std::memset(at, 0, size);
            std::memcpy(at, &size, sizeof size);
            cxtest::unique_fd fd(cxtest::udp_socket(AF_INET));
            EXPECT_EQ(call(fd, dst_v4(0, 53), static_cast<connectx_opts*>(at)), EINVAL) << size;
            EXPECT_EQ(cxtest::local_port_of(fd), 0);
            fd.reset();
        }
    });
}

TEST(OptsAbiNetns, SizesBelowTheFirstLayoutWriteNothingThroughResult) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        for (uint32_t size : {0u, 1u, 16u, 20u, kFirstLayout - 1}) {
            connectx_result res;
            std::memset(&res, 0xaa, sizeof res);
            connectx_opts o{};
            o.size = size;
            o.result = &res;
            cxtest::unique_fd fd(cxtest::udp_socket(AF_INET));
            EXPECT_EQ(call(fd, dst_v4(0, 53), &o), EINVAL) << size;
            const auto* bytes = reinterpret_cast<const unsigned char*>(&res);
            for (size_t i = 0; i < sizeof res; ++i)
                ASSERT_EQ(bytes[i], 0xaa) << "size " << size << ": result written at byte " << i;
            fd.reset();
        }
    });
}

TEST(OptsAbiNetns, LargerOptsWithAZeroTailIsAcceptedANonZeroTailIsE2big) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        guarded_page g;
        constexpr size_t kLarger = sizeof(connectx_opts) + 40;
        auto* o = static_cast<connectx_opts*>(g.tail(kLarger));
        std::memset(o, 0, kLarger);
        o->size = kLarger;
        connectx_result res{};
        o->result = &res;
        cxtest::unique_fd fd(cxtest::udp_socket(AF_INET));
        EXPECT_EQ(call(fd, dst_v4(0, 53), o), 0);
        EXPECT_EQ(res.technique, CONNECTX_TECH_UDP_ALONE) << "the known fields were read";
        fd.reset();
        for (size_t byte : {sizeof(connectx_opts), kLarger - 1}) {
            reinterpret_cast<unsigned char*>(o)[byte] = 1;
            fd.reset(cxtest::udp_socket(AF_INET));
            EXPECT_EQ(call(fd, dst_v4(0, 53), o), E2BIG) << "non-zero byte " << byte;
            EXPECT_EQ(cxtest::local_port_of(fd), 0) << "refused before any side effect";
            fd.reset();
            reinterpret_cast<unsigned char*>(o)[byte] = 0;
        }
    });
}

TEST(OptsAbiNetns, ResultMayOverlayTheDestinationOrTheSource) {
    CXTEST_REQUIRE_NETNS();
    cxtest::run_in_netns([] {
        for (int type : {SOCK_DGRAM, SOCK_STREAM}) {
            auto dst = dst_v4(0, 8080);
            int l = type == SOCK_STREAM ? cxtest::tcp_listener(dst) : -1;
            connectx_result res{};
            std::memcpy(&res.remote, dst.sa(), dst.size());
            auto src = v4("127.0.0.1");
            std::memcpy(&res.local, src.sa(), src.size());
            connectx_opts o{};
            o.size = sizeof o;
            o.result = &res;
            cxtest::unique_fd fd(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
            ASSERT_EQ(connectx(fd, reinterpret_cast<sockaddr*>(&res.local), sizeof(sockaddr_in),
                               reinterpret_cast<sockaddr*>(&res.remote), sizeof(sockaddr_in), &o),
                      0)
                << strerror(errno);
            auto remote = cx::address::from_sockaddr(reinterpret_cast<sockaddr*>(&res.remote),
                                                     sizeof res.remote);
            auto local = cx::address::from_sockaddr(reinterpret_cast<sockaddr*>(&res.local),
                                                    sizeof res.local);
            EXPECT_EQ(remote->to_string(), dst.to_string());
            EXPECT_EQ(local->ip_string(), "127.0.0.1");
            EXPECT_NE(local->port(), 0);
            fd.reset();
            if (l >= 0) ::close(l);
        }
    });
}

}  // namespace
