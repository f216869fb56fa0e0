// port_range_test.cpp - the parsers of ip_local_port_range and ip_local_reserved_ports (pure),
// the reserved-ports bitmap (set, count, word), span intersection, read_whole() bounds, and the
// readers against a redirected /proc root.
#include "port_range.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <string>

namespace {

using namespace cx::detail;

TEST(PortRangeParse, AcceptsTheKernelsFormat) {
    EXPECT_EQ(parse_port_range("32768\t60999\n"), (port_span{32768, 60999}));
    EXPECT_EQ(parse_port_range("1 1"), (port_span{1, 1}));
    EXPECT_EQ(parse_port_range("  10   21  \n"), (port_span{10, 21}));
    EXPECT_EQ(parse_port_range("1 65535"), (port_span{1, 65535}));
}

TEST(PortRangeParse, RefusesMalformed) {
    for (const char* bad : {"", "\n", "32768", "32768 ", "0 10", "20 10", "1 65536", "a b", "1-2",
                            "1 2 3", "1 2x", "-1 5", "99999999999 1"})
        EXPECT_FALSE(parse_port_range(bad)) << '"' << bad << '"';
}

TEST(ReservedPortsParse, ListsRangesAndEmpty) {
    reserved_ports r;
    ASSERT_TRUE(r.parse("11,14-18,19\n"));
    for (int p : {11, 14, 15, 16, 17, 18, 19}) EXPECT_TRUE(r.test(uint16_t(p))) << p;
    for (int p : {10, 12, 13, 20, 21}) EXPECT_FALSE(r.test(uint16_t(p))) << p;
    EXPECT_EQ(r.count({10, 21}), 7u);
    ASSERT_TRUE(r.parse("\n"));
    EXPECT_TRUE(r.empty());
    ASSERT_TRUE(r.parse(""));
    EXPECT_TRUE(r.empty());
    ASSERT_TRUE(r.parse("0-65535"));
    EXPECT_EQ(r.count({1, 65535}), 65535u);
    EXPECT_TRUE(r.test(0) && r.test(65535));
}

TEST(ReservedPortsParse, RefusesMalformedAndLeavesItCleared) {
    reserved_ports r;
    for (const char* bad :
         {",", "1,", "1,,2", "5-3", "1-", "-1", "65536", "1 2", "1;2", "a", "1-2-3", "1,2\nx"}) {
        r.set(7, 7);
        EXPECT_FALSE(r.parse(bad)) << '"' << bad << '"';
        EXPECT_TRUE(r.empty()) << bad;
    }
}

TEST(ReservedPortsParse, LongListOfEveryOtherPort) {
    std::string text;
    for (uint32_t p = 1; p < 65536; p += 2) text += (text.empty() ? "" : ",") + std::to_string(p);
    text += "\n";
    reserved_ports r;
    ASSERT_TRUE(r.parse(text));
    EXPECT_EQ(r.count({1, 65535}), 32768u);
    EXPECT_TRUE(r.test(65535));
    EXPECT_FALSE(r.test(65534));
}

TEST(ReservedPortsBitmap, WordsAndCountsAtEdges) {
    reserved_ports r;
    r.set(63, 64);
    EXPECT_EQ(r.word(0), uint64_t{1} << 63);
    EXPECT_EQ(r.word(1), 1u);
    EXPECT_EQ(r.count({64, 64}), 1u);
    EXPECT_EQ(r.count({0, 62}), 0u);
    EXPECT_EQ(r.count({5, 4}), 0u) << "empty span";
    r.set(0, 65535);
    EXPECT_EQ(r.word(1023), ~uint64_t{0});
}

TEST(PortSpan, IntersectAndSize) {
    EXPECT_EQ(intersect({10, 20}, {15, 30}), (port_span{15, 20}));
    EXPECT_FALSE(intersect({10, 20}, {21, 30}));
    EXPECT_EQ(intersect({10, 20}, {20, 20}), (port_span{20, 20}));
    EXPECT_EQ((port_span{1, 65535}).size(), 65535u);
    EXPECT_EQ((port_span{5, 4}).size(), 0u);
}

TEST(ReadWhole, ReadsEverythingOrReportsOverflow) {
    char path[] = "/tmp/cx_port_range_XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    std::string content(5000, 'x');
    ASSERT_EQ(write(fd, content.data(), content.size()), ssize_t(content.size()));
    char buf[8192];
    size_t len = 0;
    EXPECT_EQ(read_whole(fd, buf, sizeof buf, len), 0);
    EXPECT_EQ(len, 5000u);
    EXPECT_EQ(buf[len], '\0');
    char small[100];
    EXPECT_EQ(read_whole(fd, small, sizeof small, len), EOVERFLOW);
    ::close(fd);
    unlink(path);
}

TEST(Readers, RedirectedProcRoot) {
    char dir[] = "/tmp/cx_proc_XXXXXX";
    ASSERT_TRUE(mkdtemp(dir));
    std::string root = dir;
    ASSERT_EQ(std::system(("mkdir -p " + root + "/sys/net/ipv4").c_str()), 0);
    std::ofstream(root + kPortRangePath) << "40000\t40063\n";
    std::ofstream(root + kReservedPortsPath) << "40001-40002\n";
    port_span s;
    EXPECT_EQ(read_port_range(s, root.c_str()), 0);
    EXPECT_EQ(s, (port_span{40000, 40063}));
    reserved_ports r;
    EXPECT_EQ(read_reserved_ports(r, root.c_str()), 0);
    EXPECT_EQ(r.count({40000, 40063}), 2u);
    std::ofstream(root + kPortRangePath) << "garbage\n";
    EXPECT_EQ(read_port_range(s, root.c_str()), EPROTO);
    EXPECT_EQ(read_port_range(s, "/nonexistent"), ENOENT);
    std::system(("rm -rf " + root).c_str());
}

}  // namespace
