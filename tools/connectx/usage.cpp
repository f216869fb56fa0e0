// usage.cpp - the text of --help. connectx(1) documents the same options at length.
#include "cli_args.hpp"

namespace cxcli {

const char* usage_text() {
    return R"(Usage: connectx [options] URL...
A curl-like client that pins the source of its connections (address, port or port range,
interface) and makes each one with connectx: HTTP and HTTPS are libcurl's, the connect is
connectx's, so a fixed source port works again while the previous connection with it sits in
TIME_WAIT, and a port range moves on past 4-tuples that are taken.

URL forms:
  http://HOST[:PORT]/PATH, https://...   through libcurl; several URLs are fetched in turn
  tcp://HOST:PORT     send -d DATA or standard input, print what comes back until EOF
  udp://HOST:PORT     send -d DATA (one datagram) or standard input (a datagram per read),
                      print the replies until the idle timeout
  HOST is a name, an IPv4 address or [IPv6] ("[fe80::1%25eth0]" with a zone).

Source of the connection (every connection: redirects, retries, proxies, each URL):
      --interface NAME|IP  bind to interface NAME (SO_BINDTODEVICE), or use source address IP
      --local-port N[-M]   source port N, or any free port of N-M (moves on when a 4-tuple is
                           taken, TIME_WAIT included)
      --source IP[:PORT]   source address, and optionally port
      --source PREFIX/LEN  a source pool: the library picks an address of the prefix, moving
                           on when one has no free port toward the destination
  -4, --ipv4               use IPv4 addresses only
  -6, --ipv6               use IPv6 addresses only

HTTP request (curl's meaning):
  -X, --request METHOD     request method
  -H, --header "N: V"      add a header; "N:" removes a default one, "N;" sends it empty
  -A, --user-agent TEXT    User-Agent header (default connectx/VERSION)
  -e, --referer URL        Referer header
  -u, --user USER:PASS     server user and password (also user:pass@ in the URL)
  -d, --data DATA|@FILE    POST data; @FILE with CR and LF removed; several -d join with '&'
      --data-binary D|@F   POST data as is
      --data-raw DATA      POST data, '@' has no meaning
      --data-urlencode D   POST data, URL-encoded: content, name=content, name@file, @file
      --json DATA|@FILE    POST JSON (Content-Type and Accept application/json)
  -F, --form NAME=VALUE    multipart/form-data part; VALUE @FILE uploads a file, <FILE its text
  -G, --get                put the -d data in the URL query and GET
  -T, --upload-file FILE   PUT FILE ("-": standard input); a URL ending in / gets its name
  -I, --head               HEAD request; write the response head
  -b, --cookie DATA|FILE   send cookies "n=v; n2=v2", or read them from FILE
  -c, --cookie-jar FILE    write the cookies to FILE afterwards
      --compressed         ask for a compressed response and decompress it
      --http1.0, --http1.1, --http2, --http2-prior-knowledge   HTTP version

Response:
  -L, --location           follow redirects
      --max-redirs N       at most N redirects with -L (default 50; -1: no limit)
  -i, --include            write the response head to the output too
  -f, --fail               exit 22 without output on HTTP status >= 400
  -o, --output FILE        write the body to FILE (one -o per URL, in order)
  -O, --remote-name        write the body to a file named as the URL's last path segment
  -D, --dump-header FILE   write the response heads to FILE ("-": standard output)
  -w, --write-out FORMAT   print FORMAT after each transfer (@FILE reads it): every curl 7.88
                           %{variable} (%{json}, %header{NAME}, %{header_json}, %{onerror},
                           %{stderr}, ...) and %{technique}; \n \r \t, %%

TLS, proxy, names:
  -k, --insecure           do not verify the server's certificate
      --cacert FILE        trust the CA certificates in FILE
      --capath DIR         trust the CA certificates in DIR
  -x, --proxy URL          use this proxy (the connection to it is made by connectx too)
      --noproxy LIST       hosts that bypass the proxy
      --resolve H:P:ADDR   use ADDR for host H port P
      --connect-to H:P:H2:P2  connect to H2:P2 for requests to H:P

Retries and time limits:
      --retry N            retry a transient failure (timeout, HTTP 408 429 500 502 503 504)
                           N times, waiting 1, 2, 4... s (or Retry-After)
      --retry-delay S      wait S seconds between retries instead
      --retry-max-time S   no retry after S seconds
      --retry-connrefused  retry on "connection refused" too
      --connect-timeout S  give up each connect after S seconds (default 300)
  -m, --max-time S         give up each transfer after S seconds
      --idle-timeout S     tcp://, udp://: stop after S seconds without data once the input
                           has ended (default: udp 1, tcp none)

Other:
  -v, --verbose            trace: libcurl's lines, and each connection's 4-tuple and technique
  -s, --silent             no error messages
  -S, --show-error         error messages even with -s
  -h, --help               this text
  -V, --version            version

Exit status: curl's numbers (each URL's; the last one is the program's), among them:
   0 success                          28 timeout (--connect-timeout, -m, kernel)
   1 unsupported URL scheme           35 TLS handshake failed
   2 bad command line                 45 the source could not be used: interface, address,
   3 malformed URL, unknown zone,        port, 4-tuple or range taken, UDP conflict check
     link-local address without one   47 too many redirects (--max-redirs)
   6 could not resolve the host       52 the server closed without replying
   7 failed to connect                55, 56 send, receive failure
  22 HTTP status >= 400 with -f       60 the server's certificate is not trusted
  23 could not write the output
  26 could not read a file or standard input
)";
}

}  // namespace cxcli
