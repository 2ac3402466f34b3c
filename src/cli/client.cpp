#include "cli/client.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <cstdlib>
#include <iostream>

namespace taskmill::cli {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = net::ip::tcp;
namespace ssl = net::ssl;

namespace {

struct ServerUrl {
  bool tls = false;
  std::string host;  // an IPv6 literal without its brackets
  std::string port;
  std::string prefix;  // path prefix, without a trailing '/'
};

Result<ServerUrl> ParseServerUrl(const std::string& server) {
  auto url = boost::urls::parse_absolute_uri(server);
  if (!url || (url->scheme() != "http" && url->scheme() != "https") || url->host().empty()) {
    return Status::InvalidArgument("server URL '" + server +
                                   "' must look like http://HOST:PORT or https://HOST:PORT");
  }
  ServerUrl out;
  out.tls = url->scheme() == "https";
  out.host = url->host();
  // An IPv6 literal is [::1] in the URL; the resolver wants it bare.
  if (out.host.size() > 2 && out.host.front() == '[')
    out.host = out.host.substr(1, out.host.size() - 2);
  out.port = url->has_port() ? std::string(url->port()) : (out.tls ? "443" : "80");
  out.prefix = std::string(url->encoded_path());
  while (!out.prefix.empty() && out.prefix.back() == '/') out.prefix.pop_back();
  return out;
}

// The TLS settings of every https connection: the server's certificate is verified
// against the system's CA store, or against $TASKMILL_CA_FILE alone when set (a
// server with a self-signed certificate or a private CA). There is deliberately no
// switch to skip the verification: the CLI sends a bearer token with every request,
// and a CA file serves every case such a switch would.
Result<std::shared_ptr<ssl::context>> TlsContext() {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  std::string ca_file = CaFileFromEnvironment();
  beast::error_code ec;
  if (ca_file.empty()) {
    context->set_default_verify_paths(ec);
  } else {
    context->load_verify_file(ca_file, ec);
  }
  if (ec) {
    return Status::InvalidArgument("cannot use the CA file '" + ca_file +
                                   "' (--ca-file, TASKMILL_CA_FILE): " + ec.message());
  }
  context->set_verify_mode(ssl::verify_peer);
  return context;
}

// The TLS settings for a server URL: null for plain http.
Result<std::shared_ptr<ssl::context>> TlsContextFor(const ServerUrl& url) {
  if (!url.tls) return std::shared_ptr<ssl::context>();
  return TlsContext();
}

// Makes the handshake check that the certificate names `host` (a DNS name, or an IP
// address for a URL such as https://127.0.0.1:8443), and names it in SNI.
void ExpectHost(SSL* ssl, const std::string& host) {
  beast::error_code ec;
  net::ip::make_address(host, ec);
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (!ec) {
    X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl, host.c_str());
    X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
  }
}

// What went wrong in a failed handshake, in words that say what to do about it.
Status HandshakeError(SSL* ssl, const beast::error_code& ec, const std::string& server) {
  long verify = SSL_get_verify_result(ssl);
  std::string why;
  if (verify != X509_V_OK) {
    std::string ca_file = CaFileFromEnvironment();
    why = std::string("the server's certificate was not accepted: ") +
          X509_verify_cert_error_string(verify) +
          (ca_file.empty() ? " (for a server with a self-signed certificate or its own CA, "
                             "pass its CA certificate with --ca-file FILE or TASKMILL_CA_FILE)"
                           : " (checked against the CA file " + ca_file + " only)");
  } else {
    why = "TLS handshake failed: " + ec.message() + " — does the server serve https there?";
  }
  return Status::Unavailable("cannot reach taskmill at " + server + ": " + why);
}

// Responses can be large (a batch of 10,000 runs); bound them anyway.
constexpr uint64_t kMaxResponseBody = 256ull << 20;

constexpr std::array<StatusCode, 11> kErrorCodes = {
    StatusCode::kInvalidArgument, StatusCode::kNotFound,
    StatusCode::kConflict,        StatusCode::kFailedPrecondition,
    StatusCode::kUnauthenticated, StatusCode::kPermissionDenied,
    StatusCode::kTooLarge,        StatusCode::kTimeout,
    StatusCode::kUnavailable,     StatusCode::kInsufficientStorage,
    StatusCode::kInternal};

StatusCode CodeForHttpStatus(int status) {
  switch (status) {
    case 401:
      return StatusCode::kUnauthenticated;
    case 403:
      return StatusCode::kPermissionDenied;
    case 404:
      return StatusCode::kNotFound;
    case 408:
      return StatusCode::kTimeout;
    case 409:
      return StatusCode::kConflict;
    case 413:
      return StatusCode::kTooLarge;
    case 429:
    case 503:
      return StatusCode::kUnavailable;
    case 507:
      return StatusCode::kInsufficientStorage;
    default:
      return status >= 500 ? StatusCode::kInternal : StatusCode::kInvalidArgument;
  }
}

std::string Seconds(Duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(d).count());
}

}  // namespace

std::string UrlEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~' || c == ':';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Status StatusFromApiError(const HttpResponse& response) {
  ApiErrorInfo info;
  info.http_status = response.status;
  boost::system::error_code ec;
  json::value body = json::parse(response.body, ec);
  const json::object* error = nullptr;
  if (!ec && body.is_object()) {
    if (auto* e = body.get_object().if_contains("error"); e && e->is_object()) {
      error = &e->get_object();
    }
  }
  if (error) {
    if (auto* c = error->if_contains("code"); c && c->is_string()) info.code = c->get_string();
    if (auto* m = error->if_contains("message"); m && m->is_string())
      info.message = m->get_string();
    if (auto* d = error->if_contains("details")) info.details = *d;
  } else {
    // Not our error shape (a proxy in between, or not taskmill at all).
    info.code = "http_" + std::to_string(response.status);
    info.message = "HTTP " + std::to_string(response.status) + ": " + response.body.substr(0, 200);
  }
  StatusCode code = CodeForHttpStatus(response.status);
  for (StatusCode candidate : kErrorCodes) {
    if (StatusCodeName(candidate) == info.code) code = candidate;
  }
  json::object details;
  details["api_error"] = true;
  details["http_status"] = info.http_status;
  details["code"] = info.code;
  details["details"] = info.details;
  return Status(code, info.message, std::move(details));
}

std::optional<ApiErrorInfo> ApiErrorOf(const Status& status) {
  if (status.ok() || !status.details().is_object()) return std::nullopt;
  const json::object& d = status.details().get_object();
  auto* marker = d.if_contains("api_error");
  if (!marker || !marker->is_bool() || !marker->get_bool()) return std::nullopt;
  ApiErrorInfo info;
  if (auto* s = d.if_contains("http_status"); s && s->is_number())
    info.http_status = s->to_number<int>();
  if (auto* c = d.if_contains("code"); c && c->is_string()) info.code = c->get_string();
  if (auto* x = d.if_contains("details")) info.details = *x;
  info.message = status.message();
  return info;
}

class HttpClient::Connection {
 public:
  Connection(std::string host, std::string port, std::string prefix, std::string base_url,
             std::shared_ptr<ssl::context> tls)
      : host_(std::move(host)),
        port_(std::move(port)),
        prefix_(std::move(prefix)),
        base_url_(std::move(base_url)),
        tls_context_(std::move(tls)) {}

  Result<HttpResponse> Send(http::verb method, std::string_view target, std::string_view body,
                            std::string_view content_type, std::string_view authorization,
                            Duration connect_timeout, Duration timeout) {
    http::request<http::string_body> request{method, prefix_ + std::string(target), 11};
    request.set(http::field::host, host_ + ":" + port_);
    request.set(http::field::user_agent, "taskmill-cli");
    request.set(http::field::accept, "application/json");
    if (!authorization.empty()) request.set(http::field::authorization, authorization);
    if (!body.empty()) {
      request.set(http::field::content_type, content_type);
      request.body() = std::string(body);
    }
    request.keep_alive(true);
    request.prepare_payload();

    // A kept-alive connection may have been closed by the server while idle: if
    // nothing of the answer arrived, the request was not processed; send it again
    // on a new connection, once.
    for (int attempt = 0; attempt < 2; ++attempt) {
      bool reused = connected_;
      if (!connected_) {
        if (Status s = Connect(connect_timeout); !s.ok()) return s;
      }
      bool got_some = false;
      auto response = Exchange(request, timeout, &got_some);
      if (response.ok()) return response;
      Disconnect();
      if (!reused || got_some) return response;
    }
    return Status::Unavailable("lost connection to taskmill at " + base_url_);
  }

 private:
  // Runs the io_context until the pending operation completes; the stream's
  // deadline bounds it.
  void RunPending() {
    ioc_.restart();
    ioc_.run();
  }

  Status Connect(Duration timeout) {
    beast::error_code ec;
    tcp::resolver::results_type endpoints;
    tcp::resolver resolver(ioc_);
    resolver.async_resolve(host_, port_,
                           [&](beast::error_code e, tcp::resolver::results_type results) {
                             ec = e;
                             endpoints = std::move(results);
                           });
    RunPending();
    if (ec) {
      return Status::Unavailable("cannot reach taskmill at " + base_url_ + ": cannot resolve " +
                                 host_ + ": " + ec.message());
    }
    stream_.expires_after(timeout);
    stream_.async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) { ec = e; });
    RunPending();
    if (ec == beast::error::timeout) {
      return Status::Unavailable("cannot reach taskmill at " + base_url_ +
                                 ": no connection within " + Seconds(timeout) + " s");
    }
    if (ec) {
      std::string reason =
          ec == net::error::connection_refused ? "connection refused" : ec.message();
      return Status::Unavailable("cannot reach taskmill at " + base_url_ + ": " + reason +
                                 " — is `taskmill serve` running?");
    }
    beast::error_code ignored;
    stream_.socket().set_option(tcp::no_delay(true), ignored);
    if (tls_context_) {
      tls_ = std::make_unique<ssl::stream<beast::tcp_stream&>>(stream_, *tls_context_);
      ExpectHost(tls_->native_handle(), host_);
      stream_.expires_after(timeout);
      tls_->async_handshake(ssl::stream_base::client, [&](beast::error_code e) { ec = e; });
      RunPending();
      if (ec) {
        Status error =
            ec == beast::error::timeout
                ? Status::Unavailable("cannot reach taskmill at " + base_url_ +
                                      ": no TLS handshake within " + Seconds(timeout) + " s")
                : HandshakeError(tls_->native_handle(), ec, base_url_);
        Disconnect();
        return error;
      }
    }
    connected_ = true;
    buffer_.clear();
    return Status::Ok();
  }

  void Disconnect() {
    // No TLS close_notify: the connection is dropped either way, and the server
    // treats a closed socket as the end of the connection.
    tls_.reset();
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
    connected_ = false;
    buffer_.clear();
  }

  Result<HttpResponse> Exchange(http::request<http::string_body>& request, Duration timeout,
                                bool* got_some) {
    if (tls_) return ExchangeOn(*tls_, request, timeout, got_some);
    return ExchangeOn(stream_, request, timeout, got_some);
  }

  // The stream's deadline (stream_, under TLS too) bounds every step.
  template <class Stream>
  Result<HttpResponse> ExchangeOn(Stream& stream, http::request<http::string_body>& request,
                                  Duration timeout, bool* got_some) {
    beast::error_code ec;
    stream_.expires_after(timeout);
    http::async_write(stream, request, [&](beast::error_code e, size_t) { ec = e; });
    RunPending();
    // The server may answer (e.g. 413) and stop reading before the whole body is
    // sent: try to read its answer anyway.
    bool write_failed = static_cast<bool>(ec);
    if (ec == beast::error::timeout) return TimeoutError(timeout);

    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxResponseBody);
    http::async_read(stream, buffer_, parser, [&](beast::error_code e, size_t) { ec = e; });
    RunPending();
    *got_some = parser.got_some();
    if (ec == beast::error::timeout) return TimeoutError(timeout);
    if (ec) {
      return Status::Unavailable("lost connection to taskmill at " + base_url_ + ": " +
                                 ec.message());
    }
    auto& message = parser.get();
    HttpResponse response;
    response.status = static_cast<int>(message.result_int());
    response.content_type = std::string(message[http::field::content_type]);
    response.allow = std::string(message[http::field::allow]);
    response.body = std::move(message.body());
    if (write_failed || !message.keep_alive()) Disconnect();
    return response;
  }

  Status TimeoutError(Duration timeout) {
    Disconnect();
    return Status::Unavailable("taskmill at " + base_url_ + " did not answer within " +
                               Seconds(timeout) + " s");
  }

  const std::string host_;
  const std::string port_;
  const std::string prefix_;
  const std::string base_url_;
  const std::shared_ptr<ssl::context> tls_context_;  // null: plain http
  net::io_context ioc_;
  beast::tcp_stream stream_{ioc_};
  std::unique_ptr<ssl::stream<beast::tcp_stream&>> tls_;  // over stream_, while connected
  beast::flat_buffer buffer_;
  bool connected_ = false;
};

Result<std::unique_ptr<StreamingConnection>> StreamingConnection::Open(const std::string& server,
                                                                       int timeout_seconds) {
  // Every streamed request carries the token: refuse one that would break its header.
  if (Status s = CheckToken(TokenFromEnvironment()); !s.ok()) return s;
  auto url = ParseServerUrl(server);
  if (!url.ok()) return url.status();
  auto tls = TlsContextFor(*url);
  if (!tls.ok()) return tls.status();
  auto c = std::unique_ptr<StreamingConnection>(new StreamingConnection());
  c->host_ = url->host;
  c->port_ = url->port;
  c->prefix_ = url->prefix;
  boost::system::error_code ec;
  tcp::resolver resolver(c->ioc_);
  auto endpoints = resolver.resolve(c->host_, c->port_, ec);
  if (!ec) net::connect(c->stream_.socket_, endpoints, ec);
  if (ec) {
    std::string reason = ec == net::error::connection_refused ? "connection refused" : ec.message();
    return Status::Unavailable("cannot reach taskmill at " + server + ": " + reason +
                               " — is `taskmill serve` running?");
  }
  timeval timeout{.tv_sec = timeout_seconds, .tv_usec = 0};
  int fd = c->stream_.socket_.native_handle();
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  if (*tls) {
    // The socket timeouts above bound the handshake too.
    c->stream_.context_ = *tls;
    c->stream_.tls_ = std::make_unique<ssl::stream<tcp::socket&>>(c->stream_.socket_, **tls);
    ExpectHost(c->stream_.tls_->native_handle(), c->host_);
    c->stream_.tls_->handshake(ssl::stream_base::client, ec);
    if (ec) return HandshakeError(c->stream_.tls_->native_handle(), ec, server);
  }
  return c;
}

std::string DefaultServer() {
  const char* env = std::getenv("TASKMILL_SERVER");
  return env && *env ? std::string(env) : std::string("http://127.0.0.1:8080");
}

int ReportFailure(const Status& status) {
  if (auto api = ApiErrorOf(status)) {
    std::cerr << "error: " << api->message << " (" << api->code << ")\n";
    return api->http_status >= 500 ? kExitServer : kExitUsage;
  }
  std::cerr << "error: " << status.message() << "\n";
  switch (status.code()) {
    case StatusCode::kUnavailable:
    case StatusCode::kInsufficientStorage:
    case StatusCode::kInternal:
    case StatusCode::kTimeout:
      return kExitServer;
    default:
      return kExitUsage;
  }
}

std::string CaFileFromEnvironment() {
  const char* file = std::getenv("TASKMILL_CA_FILE");
  return file ? std::string(file) : std::string();
}

std::string TokenFromEnvironment() {
  const char* token = std::getenv("TASKMILL_TOKEN");
  return token ? std::string(token) : std::string();
}

Status CheckToken(std::string_view token) {
  for (size_t i = 0; i < token.size(); ++i) {
    auto c = static_cast<unsigned char>(token[i]);
    if (c < 0x20 || c == 0x7f) {
      return Status::InvalidArgument(
          "the API token (--token or $TASKMILL_TOKEN) has a control character (byte " +
          std::to_string(c) + ") at position " + std::to_string(i + 1) +
          "; a token is one line of printable characters");
    }
  }
  return Status::Ok();
}

std::string AuthorizationFromEnvironment() {
  std::string token = TokenFromEnvironment();
  return token.empty() ? token : "Bearer " + token;
}

HttpClient::HttpClient(std::string base_url, Duration connect_timeout)
    : base_url_(std::move(base_url)), connect_timeout_(connect_timeout) {
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
}

HttpClient::~HttpClient() = default;

Result<HttpResponse> HttpClient::Send(std::string_view method, std::string_view target,
                                      std::string_view body, std::string_view content_type,
                                      Duration timeout) {
  if (!connection_) {
    auto url = ParseServerUrl(base_url_);
    if (!url.ok()) return url.status();
    auto tls = TlsContextFor(*url);
    if (!tls.ok()) return tls.status();
    connection_ =
        std::make_unique<Connection>(url->host, url->port, url->prefix, base_url_, std::move(*tls));
  }
  http::verb verb = http::string_to_verb(beast::string_view(method.data(), method.size()));
  if (verb == http::verb::unknown) {
    return Status::InvalidArgument("unknown HTTP method '" + std::string(method) +
                                   "'; use GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS");
  }
  if (Status s = CheckToken(authorization_); !s.ok()) return s;
  return connection_->Send(verb, target, body, content_type, authorization_, connect_timeout_,
                           timeout);
}

Result<json::value> HttpClient::ToJsonResult(Result<HttpResponse> response) {
  if (!response.ok()) return response.status();
  if (response->status < 200 || response->status >= 300) return StatusFromApiError(*response);
  if (response->body.empty()) return json::value(nullptr);
  boost::system::error_code ec;
  json::value parsed = json::parse(response->body, ec);
  if (ec) {
    return Status::Internal("taskmill at " + base_url_ +
                            " answered with invalid JSON: " + ec.message());
  }
  return parsed;
}

Result<json::value> HttpClient::Get(std::string_view target, Duration timeout) {
  return ToJsonResult(Send("GET", target, {}, {}, timeout));
}

Result<json::value> HttpClient::Post(std::string_view target, const json::value& body,
                                     Duration timeout) {
  return ToJsonResult(Send("POST", target, json::serialize(body), "application/json", timeout));
}

Result<json::value> HttpClient::Delete(std::string_view target, Duration timeout) {
  return ToJsonResult(Send("DELETE", target, {}, {}, timeout));
}

}  // namespace taskmill::cli
