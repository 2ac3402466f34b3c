// The partition test's proxy (tcp_proxy.h): it forwards, a cut stops every byte, and
// after Heal new connections forward again. Against a real echo server on loopback.
#include "cluster/tcp_proxy.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

namespace taskmill::testing {
namespace {

// Echoes every connection, one thread per connection.
class EchoServer {
 public:
  EchoServer() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    listen(fd_, 16);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      while (true) {
        int c = accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        std::thread([c] {
          char buf[256];
          ssize_t n;
          while ((n = read(c, buf, sizeof buf)) > 0) (void)!write(c, buf, static_cast<size_t>(n));
          close(c);
        }).detach();
      }
    });
  }
  ~EchoServer() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return -1;
  return fd;
}

// What `fd` answers to `text` within `seconds`: "" when nothing came, "<closed>" when
// the connection ended.
std::string Exchange(int fd, const std::string& text, int seconds) {
  (void)!send(fd, text.data(), text.size(), MSG_NOSIGNAL);
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, seconds * 1000) <= 0) return "";
  char buf[256];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n <= 0) return "<closed>";
  return std::string(buf, static_cast<size_t>(n));
}

TEST(TcpProxyTest, ForwardsThenCarriesNothingWhileCutThenForwardsNewConnectionsAfterHeal) {
  EchoServer echo;
  TcpProxy proxy("127.0.0.1", echo.port());
  ASSERT_GT(proxy.port(), 0);
  int before = Connect(proxy.port());
  ASSERT_GE(before, 0);
  EXPECT_EQ(Exchange(before, "ping", 10), "ping");

  proxy.Cut();
  EXPECT_EQ(Exchange(before, "lost", 1), "") << "no byte crosses a partition";
  int during = Connect(proxy.port());
  ASSERT_GE(during, 0) << "the connection is accepted and hangs";
  EXPECT_EQ(Exchange(during, "hello", 1), "");

  proxy.Heal();
  EXPECT_EQ(Exchange(during, "again", 10), "<closed>") << "what hung is dropped";
  int after = Connect(proxy.port());
  ASSERT_GE(after, 0);
  EXPECT_EQ(Exchange(after, "pong", 10), "pong");
  for (int fd : {before, during, after}) close(fd);
}

}  // namespace
}  // namespace taskmill::testing
