# preload_tcp_flows.py - a TCP client that binds (ip, 0) before each connect, PER connections
# toward each destination, all held open. Prints one line:
#   connected=N unique=N error=NAME
import argparse, errno, socket

p = argparse.ArgumentParser()
p.add_argument("--dst", required=True)
p.add_argument("--port", type=int, required=True)
p.add_argument("--per", type=int, required=True)
p.add_argument("--bind", required=True)
a = p.parse_args()

conns, error = [], "none"
for d in a.dst.split(","):
    for i in range(a.per):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((a.bind, 0))
            s.connect((d, a.port))
            conns.append(s)
        except OSError as e:
            error = errno.errorcode.get(e.errno, str(e.errno))
            s.close()
tuples = {s.getsockname() + s.getpeername() for s in conns}
print("connected=%d unique=%d error=%s" % (len(conns), len(tuples), error))
