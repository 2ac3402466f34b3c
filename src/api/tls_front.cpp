#include "api/tls_front.h"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>

namespace taskmill::api {
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;

namespace {

// One relayed connection: the client's TLS stream and the plain connection to the
// backend, pumped in both directions until either side ends.
class Relay : public std::enable_shared_from_this<Relay> {
 public:
  Relay(tcp::socket client, ssl::context& ssl, tcp::endpoint backend, Duration handshake_timeout)
      : tls_(std::move(client), ssl),
        backend_(tls_.get_executor()),
        timer_(tls_.get_executor()),
        backend_endpoint_(backend),
        handshake_timeout_(handshake_timeout) {}

  void Start() {
    timer_.expires_after(handshake_timeout_);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec && !self->handshaken_) self->Close();  // a silent or slow client
    });
    tls_.async_handshake(ssl::stream_base::server,
                         [self = shared_from_this()](boost::system::error_code ec) {
                           self->handshaken_ = true;
                           self->timer_.cancel();
                           if (ec) return self->Close();
                           self->Connect();
                         });
  }

 private:
  void Connect() {
    backend_.async_connect(
        backend_endpoint_, [self = shared_from_this()](boost::system::error_code ec) {
          if (ec) {
            spdlog::warn("api: TLS relay cannot reach the HTTP server: {}", ec.message());
            return self->Close();
          }
          boost::system::error_code ignored;
          self->backend_.set_option(tcp::no_delay(true), ignored);
          self->ClientToBackend();
          self->BackendToClient();
        });
  }

  void ClientToBackend() {
    tls_.async_read_some(net::buffer(up_),
                         [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                           if (ec) return self->Close();
                           net::async_write(self->backend_, net::buffer(self->up_.data(), n),
                                            [self](boost::system::error_code write_ec, size_t) {
                                              if (write_ec) return self->Close();
                                              self->ClientToBackend();
                                            });
                         });
  }

  void BackendToClient() {
    backend_.async_read_some(net::buffer(down_),
                             [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                               if (ec) return self->Close();
                               net::async_write(self->tls_, net::buffer(self->down_.data(), n),
                                                [self](boost::system::error_code write_ec, size_t) {
                                                  if (write_ec) return self->Close();
                                                  self->BackendToClient();
                                                });
                             });
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ignored;
    timer_.cancel();
    backend_.shutdown(tcp::socket::shutdown_both, ignored);
    backend_.close(ignored);
    tls_.lowest_layer().shutdown(tcp::socket::shutdown_both, ignored);
    tls_.lowest_layer().close(ignored);
  }

  ssl::stream<tcp::socket> tls_;
  tcp::socket backend_;
  net::steady_timer timer_;
  tcp::endpoint backend_endpoint_;
  Duration handshake_timeout_;
  bool handshaken_ = false;
  bool closed_ = false;
  std::array<char, 16384> up_{};
  std::array<char, 16384> down_{};
};

}  // namespace

TlsFront::TlsFront(net::io_context& ioc, Duration handshake_timeout)
    : ioc_(ioc),
      handshake_timeout_(handshake_timeout),
      ssl_(ssl::context::tls_server),
      acceptor_(net::make_strand(ioc)) {
  ssl_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                   ssl::context::single_dh_use);
}

Status TlsFront::LoadCertificate(const std::string& cert_file, const std::string& key_file) {
  boost::system::error_code ec;
  ssl_.use_certificate_chain_file(cert_file, ec);
  if (ec) {
    return Status::InvalidArgument("api.tls_cert: cannot use " + cert_file + ": " + ec.message());
  }
  ssl_.use_private_key_file(key_file, ssl::context::pem, ec);
  if (ec) {
    return Status::InvalidArgument("api.tls_key: cannot use " + key_file + ": " + ec.message());
  }
  return Status::Ok();
}

Status TlsFront::Listen(const tcp::endpoint& public_endpoint, const tcp::endpoint& backend) {
  backend_ = backend;
  boost::system::error_code ec;
  acceptor_.open(public_endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(public_endpoint, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    return Status::Unavailable(ec.message());
  }
  net::dispatch(acceptor_.get_executor(), [this] { Accept(); });
  return Status::Ok();
}

uint16_t TlsFront::port() const { return acceptor_.local_endpoint().port(); }

void TlsFront::Close() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

void TlsFront::Accept() {
  acceptor_.async_accept(
      net::make_strand(ioc_), [this](boost::system::error_code ec, tcp::socket socket) {
        if (ec == net::error::operation_aborted) return;
        if (!ec) {
          boost::system::error_code ignored;
          socket.set_option(tcp::no_delay(true), ignored);
          std::make_shared<Relay>(std::move(socket), ssl_, backend_, handshake_timeout_)->Start();
        } else {
          spdlog::warn("api: TLS accept failed: {}", ec.message());
        }
        Accept();
      });
}

}  // namespace taskmill::api
