// Streamed response bodies (Reply::Stream): the body is pulled from the route's source
// piece by piece and written as HTTP chunks (file downloads, CSV exports).
#include <spdlog/spdlog.h>

#include <boost/asio/write.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/write.hpp>

#include "api/session.h"

namespace taskmill::api {

void Session::SendStream(Reply reply) {
  Response& head = reply.response();
  CountRequest(head.result_int());
  stream_head_ = {};
  stream_head_.result(head.result());
  stream_head_.version(request_version_);
  for (const auto& field : head) stream_head_.set(field.name_string(), field.value());
  stream_head_.keep_alive(request_keep_alive_);
  stream_head_.chunked(true);
  stream_source_ = std::move(reply.source());
  stream_serializer_.emplace(stream_head_);
  SetStreamExpiry(server_.options_.request_timeout);
  http::async_write_header(stream_, *stream_serializer_,
                           beast::bind_front_handler(&Session::OnStreamHead, shared_from_this()));
}

void Session::OnStreamHead(beast::error_code ec, size_t /*bytes*/) {
  if (ec) return Close();
  if (head_) return OnStreamDone({}, 0);  // HEAD: the header alone
  NextPiece();
}

void Session::NextPiece() {
  Result<std::string> piece = Status::Internal("no body");
  try {
    piece = stream_source_();
  } catch (const std::exception& e) {
    piece = Status::Internal(e.what());
  }
  if (!piece.ok()) {
    // The status line is out: all that is left is to cut the body short, which a
    // client sees as an incomplete chunked body.
    spdlog::warn("api: streamed response failed: {}", piece.status().ToString());
    return Close();
  }
  SetStreamExpiry(server_.options_.request_timeout);
  if (piece->empty()) {
    net::async_write(stream_, http::make_chunk_last(),
                     beast::bind_front_handler(&Session::OnStreamDone, shared_from_this()));
    return;
  }
  stream_piece_ = std::move(*piece);
  net::async_write(stream_, http::make_chunk(net::buffer(stream_piece_)),
                   [self = shared_from_this()](beast::error_code write_ec, size_t) {
                     if (write_ec) return self->Close();
                     self->NextPiece();
                   });
}

void Session::OnStreamDone(beast::error_code ec, size_t /*bytes*/) {
  stream_source_ = nullptr;
  stream_serializer_.reset();
  stream_piece_.clear();
  if (ec) return Close();
  if (!request_keep_alive_) return Linger();
  Read();
}

}  // namespace taskmill::api
