// A connection's common exchange: reading a request (header, then body, with its
// limits), the deadlines of reading and writing, writing the answer, lingering and
// closing (see session.h).
#include "api/session.h"

#include <boost/asio/write.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <charconv>

#include "api/api_error.h"
#include "metrics/taskmill_metrics.h"

namespace taskmill::api {

void Session::SetDeadline(std::chrono::steady_clock::duration timeout, Phase phase) {
  deadline_ = std::chrono::steady_clock::now() + timeout;
  phase_ = phase;
  if (!watchdog_armed_) ArmWatchdog();
}

void Session::ArmWatchdog() {
  watchdog_armed_ = true;
  watchdog_.expires_at(deadline_);
  // A weak reference: the watchdog must not keep a finished connection alive.
  watchdog_.async_wait([weak = weak_from_this()](beast::error_code ec) {
    auto self = weak.lock();
    if (!self) return;
    self->watchdog_armed_ = false;
    if (ec || self->phase_ == Phase::kIdle) return;  // Close(), or nothing to time
    if (std::chrono::steady_clock::now() < self->deadline_) return self->ArmWatchdog();
    if (self->phase_ == Phase::kReading) {
      // The read fails with operation_aborted; OnReadError answers 408.
      self->read_timed_out_ = true;
      beast::error_code ignored;
      self->stream_.socket().cancel(ignored);
    } else {
      self->Close();  // the client does not read its answer
    }
  });
}

void Session::SetStreamExpiry(std::chrono::steady_clock::duration timeout) {
  stream_.expires_after(timeout);
  stream_expiry_set_ = true;
}

void Session::Read() {
  const ApiOptions& options = server_.options_;
  route_ = metrics::kOtherRoute;
  parser_.emplace();
  parser_->header_limit(static_cast<uint32_t>(options.max_header));
  // No body limit yet: Beast checks Content-Length against it while parsing the
  // header, and an upload route (TryUpload) streams bodies of any size. OnHeader
  // applies max_json_body to every other request.
  parser_->body_limit(boost::none);
  // The first request of a connection must arrive within request_timeout; later
  // ones within idle_timeout of the previous answer (a slow client is dropped).
  // The deadline covers header and body. It is the watchdog rather than the
  // stream's expiry, which would close the socket before a 408 could be sent.
  if (stream_expiry_set_) {
    stream_.expires_never();
    stream_expiry_set_ = false;
  }
  read_timed_out_ = false;
  SetDeadline(first_request_ ? options.request_timeout : options.idle_timeout, Phase::kReading);
  // The header first: a body over the limit is refused before it is sent, and a
  // client that asks `Expect: 100-continue` (curl does for bodies over 1 KiB) is
  // told to go on instead of waiting a second for it.
  http::async_read_header(stream_, buffer_, *parser_,
                          beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
}

void Session::OnHeader(beast::error_code ec, size_t /*bytes*/) {
  if (ec) return OnReadError(ec);
  if (TryUpload()) return;
  // A declared length over the limit is refused before the body is sent; a chunked
  // body is counted as it arrives.
  const uint64_t limit = server_.options_.max_json_body;
  if (auto length = parser_->content_length(); length && *length > limit) {
    return OnReadError(http::error::body_limit);
  }
  parser_->body_limit(limit);
  if (parser_->is_done()) return OnRead({}, 0);
  auto expect = parser_->get()[http::field::expect];
  if (beast::iequals(expect, "100-continue")) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                     [self = shared_from_this()](beast::error_code write_ec, size_t) {
                       if (write_ec) return self->Close();
                       self->ReadBody();
                     });
    return;
  }
  ReadBody();
}

void Session::ReadBody() {
  http::async_read(stream_, buffer_, *parser_,
                   beast::bind_front_handler(&Session::OnRead, shared_from_this()));
}

void Session::OnRead(beast::error_code ec, size_t /*bytes*/) {
  if (ec) return OnReadError(ec);
  phase_ = Phase::kIdle;
  first_request_ = false;
  Handle();
}

void Session::OnReadError(beast::error_code ec) {
  const ApiOptions& options = server_.options_;
  phase_ = Phase::kIdle;
  if (ec == http::error::end_of_stream) return Close();
  if (read_timed_out_) {
    // Silence on an idle keep-alive connection is normal; a request that started
    // and did not finish in time gets an answer.
    if (!parser_->got_some() && buffer_.size() == 0) return Close();
    auto limit = std::chrono::duration_cast<std::chrono::seconds>(
        first_request_ ? options.request_timeout : options.idle_timeout);
    return SendError(Status::Timeout("the request was not received within " +
                                     std::to_string(limit.count()) + " s"));
  }
  if (ec == http::error::body_limit) {
    return SendError(Status::TooLarge("request body exceeds the limit of " +
                                      std::to_string(options.max_json_body) + " bytes"));
  }
  if (ec == http::error::header_limit) {
    return SendError(Status::TooLarge("request header exceeds the limit of " +
                                      std::to_string(options.max_header) + " bytes"));
  }
  if (ec.category() == http::make_error_code(http::error::bad_target).category()) {
    return SendError(ApiStatus(StatusCode::kInvalidArgument, "bad_request",
                               "malformed HTTP request: " + ec.message()));
  }
  Close();  // reset by the peer, or the server is stopping
}

// A request is owed an answer from Handle() until its answer is written (or the
// connection ends); counted in Server::answering_.
void Session::BeginAnswer() {
  if (owes_answer_) return;
  owes_answer_ = true;
  server_.answering_.fetch_add(1);
}

void Session::EndAnswer() {
  if (!owes_answer_) return;
  owes_answer_ = false;
  if (server_.answering_.fetch_sub(1) == 1) {
    std::lock_guard lock(server_.drain_mu_);
    server_.drain_cv_.notify_all();
  }
}

void Session::Send(Response response, bool close) {
  CountRequest(response.result_int());
  response.version(request_version_);
  response.keep_alive(request_keep_alive_ && !close);
  response.prepare_payload();
  if (head_) {
    auto length = response.body().size();
    response.body().clear();
    if (length > 0) response.content_length(length);
  }
  response_ = std::move(response);
  SetDeadline(server_.options_.request_timeout, Phase::kWriting);
  http::async_write(stream_, response_,
                    beast::bind_front_handler(&Session::OnWrite, shared_from_this()));
}

void Session::OnWrite(beast::error_code ec, size_t /*bytes*/) {
  phase_ = Phase::kIdle;
  EndAnswer();
  if (ec) return Close();
  if (!response_.keep_alive()) return Linger();
  response_ = {};
  Read();
}

// Half-closes, then discards input until the client closes or kLingerTime passes.
void Session::Linger() {
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  SetStreamExpiry(kLingerTime);
  Drain();
}

void Session::Drain() {
  stream_.async_read_some(net::buffer(drain_),
                          [self = shared_from_this()](beast::error_code ec, size_t) {
                            if (ec) return self->Close();
                            self->Drain();
                          });
}

// Counts the answer to the request being handled, under its route pattern.
// The counter of the last (route, code) is kept: a keep-alive connection usually
// repeats its request, and the family's lookup takes a lock shared by every thread.
void Session::CountRequest(unsigned code) {
  if (!request_counter_ || code != counted_code_ || route_.data() != counted_route_.data() ||
      route_.size() != counted_route_.size()) {
    char digits[8];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, code);
    request_counter_ = &metrics::Taskmill().http_requests->WithLabels(
        {route_, std::string_view(digits, end - digits)});
    counted_route_ = route_;
    counted_code_ = code;
  }
  request_counter_->Increment();
}

void Session::Close() {
  phase_ = Phase::kIdle;
  EndAnswer();
  watchdog_.cancel();
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.socket().close(ignored);
}

}  // namespace taskmill::api
