// tcp_proxy.h — a TCP proxy for the partition test: a node reaches the database
// through it, and the test cuts the link on command.
//
// Listens on 127.0.0.1 (port 0: a free port) and forwards every connection to
// `target`. Cut() is a partition: the connections through the proxy stop carrying
// bytes (they hang, as over a dead link, until the client's own timeouts end them),
// and new ones are accepted and left hanging. Heal() drops what hung during the
// partition, as a link that was down long enough does, and forwards again.
//
// Thread-safe: one thread of its own forwards; Cut and Heal may come from any thread.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace taskmill::testing {

class TcpProxy {
 public:
  TcpProxy(std::string target_host, int target_port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  // The port it listens on; 0 when it could not listen.
  int port() const { return port_; }
  void Cut();
  void Heal();

 private:
  struct Link {
    int client = -1;
    int server = -1;  // -1 while the partition holds it
  };
  void Loop();
  void Close(Link& link);

  const std::string target_host_;
  const int target_port_;
  int listener_ = -1;
  int port_ = 0;
  int wake_[2] = {-1, -1};  // a pipe: Cut, Heal and the destructor wake the loop
  std::atomic<bool> cut_{false};
  std::atomic<bool> heal_{false};  // set by Heal, cleared by the loop once it drops
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<Link> links_;  // used by the loop thread only
};

}  // namespace taskmill::testing
