#include "cluster/tcp_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

namespace taskmill::testing {

namespace {

int ConnectTo(const std::string& host, int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Moves what `from` has to `to`; false when either end is closed.
bool Pump(int from, int to) {
  char buf[65536];
  ssize_t n = read(from, buf, sizeof buf);
  if (n <= 0) return false;
  for (ssize_t sent = 0; sent < n;) {
    ssize_t w = send(to, buf + sent, static_cast<size_t>(n - sent), MSG_NOSIGNAL);
    if (w <= 0) return false;
    sent += w;
  }
  return true;
}

}  // namespace

TcpProxy::TcpProxy(std::string target_host, int target_port)
    : target_host_(std::move(target_host)), target_port_(target_port) {
  listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listener_ < 0 || bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listener_, 64) != 0 ||
      getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      pipe2(wake_, O_CLOEXEC) != 0) {
    return;
  }
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Loop(); });
}

TcpProxy::~TcpProxy() {
  stop_ = true;
  if (wake_[1] >= 0) (void)!write(wake_[1], "x", 1);
  if (thread_.joinable()) thread_.join();
  for (Link& link : links_) Close(link);
  for (int fd : {listener_, wake_[0], wake_[1]}) {
    if (fd >= 0) close(fd);
  }
}

void TcpProxy::Cut() {
  cut_ = true;
  (void)!write(wake_[1], "x", 1);
}

void TcpProxy::Heal() {
  heal_ = true;
  cut_ = false;
  (void)!write(wake_[1], "x", 1);
}

void TcpProxy::Close(Link& link) {
  if (link.client >= 0) close(link.client);
  if (link.server >= 0) close(link.server);
  link.client = link.server = -1;
}

void TcpProxy::Loop() {
  while (!stop_) {
    if (heal_.exchange(false)) {
      // What hung through the partition is dropped, as a long outage ends it.
      for (Link& link : links_) Close(link);
      links_.clear();
    }
    const bool cut = cut_;
    std::vector<pollfd> fds = {{listener_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (!cut) {
      for (const Link& link : links_) {
        fds.push_back({link.client, POLLIN, 0});
        fds.push_back({link.server, POLLIN, 0});
      }
    }
    if (poll(fds.data(), fds.size(), 1000) <= 0) continue;
    if (fds[1].revents & POLLIN) {
      char drain[64];
      (void)!read(wake_[0], drain, sizeof drain);
      continue;  // the state changed: poll again with it
    }
    if (fds[0].revents & POLLIN) {
      int client = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client >= 0) {
        // During a partition the connection is accepted and left hanging.
        int server = cut ? -1 : ConnectTo(target_host_, target_port_);
        if (!cut && server < 0) {
          close(client);
        } else {
          links_.push_back({client, server});
        }
      }
    }
    if (cut) continue;
    for (size_t i = 0; i < links_.size(); ++i) {
      const pollfd& from_client = fds[2 + 2 * i];
      const pollfd& from_server = fds[3 + 2 * i];
      bool open = true;
      if (from_client.revents & (POLLIN | POLLHUP | POLLERR)) {
        open = Pump(links_[i].client, links_[i].server);
      }
      if (open && (from_server.revents & (POLLIN | POLLHUP | POLLERR))) {
        open = Pump(links_[i].server, links_[i].client);
      }
      if (!open) Close(links_[i]);
    }
    std::erase_if(links_, [](const Link& link) { return link.client < 0; });
  }
}

}  // namespace taskmill::testing
