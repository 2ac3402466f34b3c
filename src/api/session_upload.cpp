// Streamed request bodies (Router::AddUpload): a body of any size goes to the route's
// BodySink piece by piece, each read with its own deadline, so only a stalled client
// times out.
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/url/parse.hpp>
#include <limits>

#include "api/api_error.h"
#include "api/session.h"
#include "api/utf8_text.h"

namespace taskmill::api {

// Hands the request to an upload route when one takes it; false to go on as usual.
bool Session::TryUpload() {
  const Request& header = parser_->get();
  // Most requests use a method no upload route has: no need to look at the target.
  if (!server_.router_.HasUpload(header.method())) return false;
  auto url = boost::urls::parse_origin_form(
      std::string_view(header.target().data(), header.target().size()));
  if (!url) return false;
  std::vector<std::string> params;
  std::string_view pattern;
  const UploadHandler* upload =
      server_.router_.FindUpload(header.method(), *url, &params, &pattern);
  if (!upload) return false;
  route_ = pattern;
  request_version_ = header.version();
  request_keep_alive_ = header.keep_alive();
  head_ = false;
  if (over_limit_) return false;  // Handle() answers 503
  if (!Authorize(*url, header)) return true;
  if (Status s = CheckRequestText(pattern, params, *url); !s.ok()) {
    SendError(s);
    return true;
  }
  Exchange exchange(header, *url, std::move(params), stream_.get_executor(), [this] {
    return Exchange::Completion([self = shared_from_this()](Response response) {
      net::post(self->stream_.get_executor(), [self, response = std::move(response)]() mutable {
        self->Send(std::move(response));
      });
    });
  });
  exchange.set_principal(&principal_);
  Result<std::unique_ptr<BodySink>> sink = Status::Internal("upload route failed");
  try {
    sink = (*upload)(exchange);
  } catch (const std::exception& e) {
    sink = Status::Internal(std::string("unexpected error: ") + e.what());
  }
  if (sink.ok() && !*sink) return false;
  phase_ = Phase::kIdle;  // from here the stream's expiry times the upload
  if (!sink.ok()) {
    SendError(sink.status());
    return true;
  }
  upload_sink_ = std::move(*sink);
  // The whole-request deadline cannot fit a body of any size: from here on each read
  // has its own (the stream's expiry), so only a stalled client times out.
  upload_parser_.emplace(std::move(*parser_));
  if (!upload_buffer_) upload_buffer_ = std::make_unique_for_overwrite<char[]>(kUploadPiece);
  upload_parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
  if (beast::iequals(upload_parser_->get()[http::field::expect], "100-continue")) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                     [self = shared_from_this()](beast::error_code write_ec, size_t) {
                       if (write_ec) return self->Close();
                       self->ReadUploadPiece();
                     });
    return true;
  }
  ReadUploadPiece();
  return true;
}

void Session::ReadUploadPiece() {
  if (upload_parser_->is_done()) return FinishUpload();
  auto& body = upload_parser_->get().body();
  body.data = upload_buffer_.get();
  body.size = kUploadPiece;
  SetStreamExpiry(server_.options_.request_timeout);
  http::async_read(stream_, buffer_, *upload_parser_,
                   beast::bind_front_handler(&Session::OnUploadPiece, shared_from_this()));
}

void Session::OnUploadPiece(beast::error_code ec, size_t /*bytes*/) {
  if (ec == http::error::need_buffer) ec = {};  // the piece buffer is full: hand it over
  if (ec) {
    upload_sink_.reset();
    if (ec == beast::error::timeout) {
      return SendError(
          Status::Timeout("the upload stalled: nothing received for " +
                          std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                             server_.options_.request_timeout)
                                             .count()) +
                          " s"));
    }
    return Close();
  }
  size_t got = kUploadPiece - upload_parser_->get().body().size;
  if (got > 0) {
    Status written = upload_sink_->Write(std::string_view(upload_buffer_.get(), got));
    if (!written.ok()) {
      upload_sink_.reset();
      return SendError(written);
    }
  }
  ReadUploadPiece();
}

void Session::FinishUpload() {
  stream_.expires_never();
  first_request_ = false;
  std::optional<Reply> reply;
  try {
    reply.emplace(upload_sink_->Finish());
  } catch (const std::exception& e) {
    reply.emplace(Status::Internal(std::string("unexpected error: ") + e.what()));
  }
  upload_sink_.reset();
  upload_parser_.reset();
  upload_buffer_.reset();
  if (reply->streamed()) return SendStream(std::move(*reply));
  Send(std::move(reply->response()));
}

}  // namespace taskmill::api
