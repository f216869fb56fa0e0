// servers.hpp - the servers a scenario's connections go to: one TCP listener or one UDP socket on
// every destination address, port kServerPort.
#pragma once

#include <string>
#include <vector>

#include "stress.hpp"
#include "techniques.hpp"

namespace cxstress {

// Owns the server sockets; closes them on destruction.
class servers {
public:
    servers() = default;
    servers(const servers&) = delete;
    servers& operator=(const servers&) = delete;
    ~servers();

    // Opens a server of protocol `p` on every destination of `ep`. TCP listeners get `backlog`:
    // the tool never accepts, so completed connections wait in the accept queue, costing the
    // server no file descriptor. Returns 0 or an errno and what failed in `what`.
    int start(proto p, const endpoints& ep, int backlog, std::string& what);

private:
    std::vector<int> fds_;
};

}  // namespace cxstress
