# preload_udp_sessions.py - SESSIONS clients of a UDP proxy, each its own socket bound to an
# explicit source port (FIRST_PORT + i, outside the namespace's ephemeral range, so the clients
# never take the proxy's ports). Each sends one token; a session counts when its own token
# comes back. Prints one line:
#   sent=N replied=N wrong=N
import argparse, select, socket, time

p = argparse.ArgumentParser()
p.add_argument("--to", required=True)        # ip:port of the proxy
p.add_argument("--sessions", type=int, required=True)
p.add_argument("--first-port", type=int, required=True)
a = p.parse_args()
host, port = a.to.rsplit(":", 1)

pending, wrong = {}, 0
for i in range(a.sessions):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", a.first_port + i))
    token = b"session-%d" % i
    s.sendto(token, (host, int(port)))
    pending[s] = token
    time.sleep(0.002)  # one datagram at a time: the proxy sees each session open in turn
replied, deadline = 0, time.time() + 4
while pending and time.time() < deadline:
    ready, _, _ = select.select(list(pending), [], [], 0.5)
    for s in ready:
        if s.recv(64) == pending.pop(s):
            replied += 1
        else:
            wrong += 1
print("sent=%d replied=%d wrong=%d" % (a.sessions, replied, wrong))
