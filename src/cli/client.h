// cli/client.h — a small synchronous HTTP/1.1 client for the taskmill API.
//
// One HttpClient holds one keep-alive connection to one server and sends requests
// one at a time; when the server has closed the idle connection, the next request
// reconnects once. Every call has a deadline (connect + send + receive). Not
// thread-safe: use one client per thread.
//
// TLS: https:// URLs are served over TLS with the server's certificate verified
// (see HttpClient); there is no way to skip the verification.
//
// Errors: a transport failure is kUnavailable with a message a person can act on
// ("cannot reach taskmill at http://127.0.0.1:8080: connection refused — is
// `taskmill serve` running?"). The JSON helpers (Get/Post/Delete) also turn an API
// error response into a Status: its code follows the HTTP status and its details
// hold the API error (see ApiErrorOf).
#pragma once

#include <taskmill/clock.h>
#include <taskmill/status.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace taskmill::cli {

struct HttpResponse {
  int status = 0;  // HTTP status code
  std::string content_type;
  std::string allow;  // the Allow header of a 405
  std::string body;
};

// The API error a Status from HttpClient carries.
struct ApiErrorInfo {
  int http_status = 0;
  std::string code;  // e.g. "malformed_json", "not_found"
  std::string message;
  boost::json::value details;
};
// nullopt when `status` did not come from an API error response (e.g. transport).
std::optional<ApiErrorInfo> ApiErrorOf(const Status& status);

// Exit statuses of the client commands (docs/cli.md, "Exit status").
inline constexpr int kExitOk = 0;
inline constexpr int kExitRunNotCompleted = 1;  // --wait: the run ended, not completed
inline constexpr int kExitUsage = 2;            // bad input, or the API refused it (4xx)
inline constexpr int kExitServer = 3;           // unreachable server, or a 5xx

// The server the CLI talks to: $TASKMILL_SERVER, else http://127.0.0.1:8080.
std::string DefaultServer();
// Prints the error ("error: …", with the API's code when it carries one) and returns the
// exit status it stands for.
int ReportFailure(const Status& status);

// The API token the CLI sends: $TASKMILL_TOKEN (`--token` sets it); empty when unset.
std::string TokenFromEnvironment();
// "Bearer <token>" for the Authorization header, or "" when no token is set.
std::string AuthorizationFromEnvironment();
// Refuses a token that would break the Authorization header (a CR or LF would end it
// and start a header of the token's choosing; other control bytes are never in a
// token): kInvalidArgument saying so, without echoing the token.
Status CheckToken(std::string_view token);

// The CA certificates (PEM) that https servers are verified against instead of the
// system's store: $TASKMILL_CA_FILE (`--ca-file` sets it); empty when unset.
std::string CaFileFromEnvironment();

// A TCP connection, with TLS when the server URL is https, for blocking reads and
// writes (Beast's SyncReadStream and SyncWriteStream).
class ClientStream {
 public:
  explicit ClientStream(boost::asio::io_context& ioc) : socket_(ioc) {}
  boost::asio::ip::tcp::socket& socket() { return socket_; }
  bool tls() const { return static_cast<bool>(tls_); }

  template <class Buffers>
  size_t read_some(const Buffers& buffers, boost::system::error_code& ec) {
    return tls_ ? tls_->read_some(buffers, ec) : socket_.read_some(buffers, ec);
  }
  template <class Buffers>
  size_t read_some(const Buffers& buffers) {
    return tls_ ? tls_->read_some(buffers) : socket_.read_some(buffers);
  }
  template <class Buffers>
  size_t write_some(const Buffers& buffers, boost::system::error_code& ec) {
    return tls_ ? tls_->write_some(buffers, ec) : socket_.write_some(buffers, ec);
  }
  template <class Buffers>
  size_t write_some(const Buffers& buffers) {
    return tls_ ? tls_->write_some(buffers) : socket_.write_some(buffers);
  }

 private:
  friend class StreamingConnection;
  boost::asio::ip::tcp::socket socket_;
  std::shared_ptr<boost::asio::ssl::context> context_;  // kept alive for tls_
  std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls_;
};

// One HTTP/1.1 exchange on its own connection, with streamed bodies: the CSV files of
// bulk runs can be larger than memory, and an event stream never ends. Reads and writes
// fail after `timeout_seconds` of silence. `server` is http:// or https:// (verified
// as HttpClient does).
class StreamingConnection {
 public:
  static Result<std::unique_ptr<StreamingConnection>> Open(const std::string& server,
                                                           int timeout_seconds);
  ClientStream& stream() { return stream_; }
  boost::beast::flat_buffer& buffer() { return buffer_; }
  std::string Target(const std::string& path) const { return prefix_ + path; }
  std::string HostHeader() const { return host_ + ":" + port_; }

 private:
  StreamingConnection() : stream_(ioc_) {}
  boost::asio::io_context ioc_;
  ClientStream stream_;
  boost::beast::flat_buffer buffer_;
  std::string host_, port_, prefix_;
};

class HttpClient {
 public:
  // `base_url`: "http://HOST:PORT" or "https://HOST:PORT", with an optional path
  // prefix. An https server's certificate must be valid for HOST and signed by a CA
  // of the system's store, or of $TASKMILL_CA_FILE when set; otherwise every request
  // fails (kUnavailable) saying why.
  explicit HttpClient(std::string base_url, Duration connect_timeout = std::chrono::seconds(5));
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends one request and returns the response whatever its status. `target` is
  // the path and query, e.g. "/api/v1/runs?status=failed". Fails only when no
  // response arrived within `timeout`.
  Result<HttpResponse> Send(std::string_view method, std::string_view target,
                            std::string_view body = {},
                            std::string_view content_type = "application/json",
                            Duration timeout = std::chrono::seconds(30));

  // JSON helpers: a 2xx answer yields its body parsed (null for an empty body);
  // an API error yields a Status carrying it.
  Result<boost::json::value> Get(std::string_view target,
                                 Duration timeout = std::chrono::seconds(30));
  Result<boost::json::value> Post(std::string_view target, const boost::json::value& body,
                                  Duration timeout = std::chrono::seconds(30));
  Result<boost::json::value> Delete(std::string_view target,
                                    Duration timeout = std::chrono::seconds(30));

  const std::string& base_url() const { return base_url_; }
  // Sends `Authorization: Bearer <token>` with every request (default: $TASKMILL_TOKEN;
  // "" sends none).
  void set_token(const std::string& token) {
    authorization_ = token.empty() ? token : "Bearer " + token;
  }

 private:
  class Connection;
  Result<boost::json::value> ToJsonResult(Result<HttpResponse> response);

  std::string base_url_;
  std::string authorization_ = AuthorizationFromEnvironment();
  Duration connect_timeout_;
  std::unique_ptr<Connection> connection_;
};

// Percent-encodes one path segment or query value ("a b/c" → "a%20b%2Fc").
std::string UrlEncode(std::string_view text);

// The Status an API error response stands for (also used by HttpClient).
Status StatusFromApiError(const HttpResponse& response);

}  // namespace taskmill::cli
