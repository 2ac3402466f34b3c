// api/tls_front.h — HTTPS for the API server: a TLS listener in front of the plain
// HTTP server.
//
// Each accepted connection is decrypted here (OpenSSL through Boost.Asio's ssl::stream)
// and its bytes are relayed, both ways, to the plain server listening on loopback.
// Relaying keeps one HTTP implementation (limits, timeouts, uploads, event streams)
// for both schemes; the cost is one loopback hop per connection, which is small next
// to the TLS work itself. A handshake must complete within `handshake_timeout`.
//
// Runs on the server's io_context; Start once, then the io threads serve it. Stop by
// destroying it together with the io_context.
#pragma once

#include <taskmill/clock.h>
#include <taskmill/status.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <optional>
#include <string>

namespace taskmill::api {

class TlsFront {
 public:
  TlsFront(boost::asio::io_context& ioc, Duration handshake_timeout);

  // Loads the PEM certificate chain and private key; kInvalidArgument naming the file
  // and OpenSSL's reason when either cannot be used.
  Status LoadCertificate(const std::string& cert_file, const std::string& key_file);
  // Listens on `public_endpoint` and relays to `backend`. kUnavailable when the address
  // cannot be bound.
  Status Listen(const boost::asio::ip::tcp::endpoint& public_endpoint,
                const boost::asio::ip::tcp::endpoint& backend);
  uint16_t port() const;
  void Close();

 private:
  void Accept();

  boost::asio::io_context& ioc_;
  Duration handshake_timeout_;
  boost::asio::ssl::context ssl_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::ip::tcp::endpoint backend_;
};

}  // namespace taskmill::api
