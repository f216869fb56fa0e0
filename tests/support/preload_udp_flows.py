# preload_udp_flows.py - a UDP client of the kind the drop-in is for: one socket.connect() per
# flow, PER flows toward each destination, optionally bind((ip, 0)) first. Each connected flow
# sends its own token and must get that token back from the echo server (a duplicate 4-tuple
# would send the reply to the wrong socket). Prints one line:
#   connected=N unique=N echoed=N error=NAME
import argparse, errno, select, socket, time

p = argparse.ArgumentParser()
p.add_argument("--dst", required=True)       # comma-separated addresses
p.add_argument("--port", type=int, required=True)
p.add_argument("--per", type=int, required=True)
p.add_argument("--bind")                     # source address to bind with port 0
a = p.parse_args()

flows, error = [], "none"
for d in a.dst.split(","):
    for i in range(a.per):
        s = socket.socket(socket.AF_INET6 if ":" in d else socket.AF_INET, socket.SOCK_DGRAM)
        try:
            if a.bind:
                s.bind((a.bind, 0))
            s.connect((d, a.port))
            flows.append(s)
        except OSError as e:
            error = errno.errorcode.get(e.errno, str(e.errno))
            s.close()

tuples = {s.getsockname()[:2] + s.getpeername()[:2] for s in flows}
pending = {}
for n, s in enumerate(flows):
    token = b"flow-%d" % n
    s.send(token)
    pending[s] = token
echoed, deadline = 0, time.time() + 5
while pending and time.time() < deadline:
    ready, _, _ = select.select(list(pending), [], [], 0.5)
    for s in ready:
        if s.recv(64) == pending.pop(s):
            echoed += 1
print("connected=%d unique=%d echoed=%d error=%s" % (len(flows), len(tuples), echoed, error))
