// api/session.h — one HTTP/1.1 connection of the API server.
//
// A Session reads requests, answers them and keeps the connection's deadlines. Its
// steps live by subject:
//   session.cpp           reading a request, deadlines, writing an answer, closing
//   session_dispatch.cpp  routing a request, authorization, calling the handler
//   session_upload.cpp    streamed request bodies (Router::AddUpload)
//   session_download.cpp  streamed response bodies (Reply::Stream)
//   session_push.cpp      pushed response bodies (Reply::Push: Server-Sent Events)
//
// Every step runs on the connection's io thread (its io_context has one), which
// serializes them as a strand would; a Session is owned by the handlers pending on it
// (shared_from_this) and by nothing else.
#pragma once

#include <array>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/url/url_view.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/http_server.h"
#include "metrics/taskmill_metrics.h"

namespace taskmill::api {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, Server& server, bool over_limit)
      : stream_(std::move(socket)),
        read_timer_(stream_.get_executor()),
        watchdog_(stream_.get_executor()),
        server_(server),
        over_limit_(over_limit) {}
  ~Session() {
    EndAnswer();
    server_.connections_.fetch_sub(1, std::memory_order_relaxed);
  }

  void Start() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&Session::Read, shared_from_this()));
  }

 private:
  // ---- deadlines of the common exchange (read a request, write its answer) ---------
  //
  // One timer per connection, the watchdog, enforces them: a phase sets deadline_,
  // and the watchdog, when it fires, acts only if the current phase's deadline has
  // passed, else waits again until it. Arming and cancelling a timer for every read
  // and write (and the stream's own expiry timer for writes) cost a timer-queue
  // update and a cancelled handler each, per request; now a keep-alive connection
  // re-arms its timer about once per timeout. The less common exchanges (uploads,
  // streamed and pushed bodies, lingering) use the stream's expiry (SetStreamExpiry).
  enum class Phase { kIdle, kReading, kWriting };
  void SetDeadline(std::chrono::steady_clock::duration timeout, Phase phase);
  void ArmWatchdog();
  void SetStreamExpiry(std::chrono::steady_clock::duration timeout);

  // ---- reading a request (session.cpp) --------------------------------------------
  void Read();
  void OnHeader(beast::error_code ec, size_t bytes);
  void ReadBody();
  void OnRead(beast::error_code ec, size_t bytes);
  void OnReadError(beast::error_code ec);

  // ---- the answer owed (session.cpp) ------------------------------------------------
  void BeginAnswer();
  void EndAnswer();
  // Answers with an error and closes: after a protocol error or a limit the rest of
  // the input cannot be trusted to frame a next request.
  void SendError(const Status& status) { Send(ErrorResponse(status), /*close=*/true); }
  void Send(Response response, bool close = false);
  void OnWrite(beast::error_code ec, size_t bytes);
  void Linger();
  void Drain();
  void CountRequest(unsigned code);
  void Close();

  // ---- dispatch and auth (session_dispatch.cpp) ------------------------------------
  void Handle();
  bool Authorize(const boost::urls::url_view& url, const Request& request);

  // ---- streamed request bodies (session_upload.cpp) --------------------------------
  bool TryUpload();
  void ReadUploadPiece();
  void OnUploadPiece(beast::error_code ec, size_t bytes);
  void FinishUpload();

  // ---- streamed response bodies (session_download.cpp) -----------------------------
  void SendStream(Reply reply);
  void OnStreamHead(beast::error_code ec, size_t bytes);
  void NextPiece();
  void OnStreamDone(beast::error_code ec, size_t bytes);

  // ---- pushed response bodies (session_push.cpp) -----------------------------------
  void SendPush(Reply reply);
  void StartPush();
  void PushNext();
  void WritePushParts();

  beast::tcp_stream stream_;
  net::steady_timer read_timer_;  // keep-alives of a pushed body
  bool read_timed_out_ = false;
  net::steady_timer watchdog_;  // see SetDeadline
  bool watchdog_armed_ = false;
  Phase phase_ = Phase::kIdle;
  std::chrono::steady_clock::time_point deadline_;  // of phase_
  bool stream_expiry_set_ = false;               // the stream's expiry is in use (SetStreamExpiry)
  metrics::Counter* request_counter_ = nullptr;  // CountRequest's last counter
  std::string_view counted_route_;
  unsigned counted_code_ = 0;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Response response_;  // the response being written
  Server& server_;
  const bool over_limit_;  // answer 503 and close
  bool first_request_ = true;
  bool owes_answer_ = false;  // see BeginAnswer
  unsigned request_version_ = 11;
  bool request_keep_alive_ = true;
  bool head_ = false;  // the request being answered is a HEAD
  // The route pattern of the request being handled (metrics::kOtherRoute until one
  // matches); points into the router or a constant.
  std::string_view route_ = metrics::kOtherRoute;
  std::array<char, 4096> drain_{};
  // An upload in progress (Router::AddUpload).
  std::unique_ptr<BodySink> upload_sink_;
  std::optional<http::request_parser<http::buffer_body>> upload_parser_;
  // The piece buffer of an upload: allocated when one starts, since most connections
  // never upload and a buffer inside every session cost 64 KiB of resident memory
  // each (1,000 event streams: 64 MB).
  static constexpr size_t kUploadPiece = 64 << 10;
  std::unique_ptr<char[]> upload_buffer_;
  // A streamed response in progress (Reply::Stream).
  http::response<http::empty_body> stream_head_;
  std::optional<http::response_serializer<http::empty_body>> stream_serializer_;
  BodySource stream_source_;
  std::string stream_piece_;
  // A pushed response in progress (Reply::Push).
  std::shared_ptr<PushSource> push_;
  std::vector<PushPart> push_parts_;  // being written; empty between writes
  bool push_writing_ = false;
  bool push_closed_ = false;
  Principal principal_;  // who the request being answered acts for
};

}  // namespace taskmill::api
