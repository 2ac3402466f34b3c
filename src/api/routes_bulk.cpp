// Routes of bulk CSV runs: uploads (streamed into storage) and downloads (streamed
// out of it). See routes_bulk.h.
#include "api/routes_bulk.h"

#include <taskmill/bulk.h>

#include <algorithm>
#include <boost/beast/http/field.hpp>
#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <memory>

#include "api/api_error.h"
#include "api/json_body.h"

namespace taskmill::api {
namespace json = boost::json;
namespace http = boost::beast::http;

namespace {

// A JSON records body is parsed whole, so it has a bound of its own; a larger input
// is better sent as CSV, which is streamed.
constexpr size_t kMaxRecordsBody = size_t{64} << 20;

// The media type of a Content-Type value, lower-cased, without parameters.
std::string MediaType(std::string_view content_type) {
  std::string out;
  for (char c : content_type.substr(0, content_type.find(';'))) {
    if (c != ' ' && c != '\t')
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

Result<BulkCreateRequest> RequestFromQuery(const Exchange& ex) {
  TASKMILL_RETURN_IF_ERROR(
      ex.CheckQuery({"function", "queue", "id", "priority", "conflict", "name", "account"}));
  BulkCreateRequest request;
  request.run.function = ex.query("function").value_or("");
  if (request.run.function.empty()) {
    return ParameterError("function",
                          "name the bulk function to run, e.g. ?function=numbers.import");
  }
  request.run.queue = ex.query("queue").value_or("");
  request.run.id = ex.query("id").value_or("");
  if (auto priority = ex.query("priority"); priority && !priority->empty()) {
    int value = 0;
    auto [end, ec] = std::from_chars(priority->data(), priority->data() + priority->size(), value);
    if (ec != std::errc() || end != priority->data() + priority->size()) {
      return ParameterError("priority", "expected an integer, got '" + *priority + "'");
    }
    request.run.priority = value;
  }
  if (auto conflict = ex.query("conflict"); conflict && !conflict->empty()) {
    auto mode = ParseConflictMode(*conflict);
    if (!mode) {
      return ParameterError("conflict",
                            "expected error, ignore or overwrite, got '" + *conflict + "'");
    }
    request.conflict = *mode;
  }
  if (auto name = ex.query("name"); name && !name->empty()) request.file_name = *name;
  TASKMILL_RETURN_IF_ERROR(
      ApplyAccount(ex, &request.run.account_id, &request.run.auth_account_id));
  return request;
}

class CsvSink final : public BodySink {
 public:
  explicit CsvSink(std::unique_ptr<BulkUpload> upload) : upload_(std::move(upload)) {}
  Status Write(std::string_view piece) override { return upload_->Append(piece); }
  Reply Finish() override {
    auto run = upload_->Finish();
    if (!run.ok()) return run.status();
    return RunResponse(http::status::created, *run);
  }

 private:
  std::unique_ptr<BulkUpload> upload_;
};

class RecordsSink final : public BodySink {
 public:
  RecordsSink(Engine& engine, BulkCreateRequest request)
      : engine_(engine), request_(std::move(request)) {}
  Status Write(std::string_view piece) override {
    if (body_.size() + piece.size() > kMaxRecordsBody) {
      return Status::TooLarge("a JSON records body may be at most " +
                              std::to_string(kMaxRecordsBody >> 20) +
                              " MiB; send larger inputs as text/csv, which is streamed");
    }
    body_.append(piece);
    return Status::Ok();
  }
  Reply Finish() override {
    auto value = ParseJsonText(body_);
    if (!value.ok()) return value.status();
    if (!value->is_object()) return FieldError("records", "the body must be {\"records\": [...]}");
    for (const auto& kv : value->get_object()) {
      if (kv.key() != "records") return FieldError(kv.key(), "unknown key; accepted: records");
    }
    const json::value* records = value->get_object().if_contains("records");
    if (!records) return FieldError("records", "the body must be {\"records\": [...]}");
    auto run = CreateBulkRunFromRecords(engine_, std::move(request_), *records);
    if (!run.ok()) return run.status();
    return RunResponse(http::status::created, *run);
  }

 private:
  Engine& engine_;
  BulkCreateRequest request_;
  std::string body_;
};

Result<std::unique_ptr<BodySink>> UploadRun(RouteContext& ctx, Exchange& ex) {
  std::string media = MediaType(std::string_view(ex.request()[http::field::content_type]));
  bool has_function = ex.query("function").has_value();
  if (media != "text/csv" && !has_function) return std::unique_ptr<BodySink>();  // an ordinary run
  auto request = RequestFromQuery(ex);
  if (!request.ok()) return request.status();
  if (media == "text/csv") {
    auto upload = BulkUpload::Start(ctx.engine, std::move(*request));
    if (!upload.ok()) return upload.status();
    return std::unique_ptr<BodySink>(new CsvSink(std::move(*upload)));
  }
  if (IsJsonContentType(ex.request()[http::field::content_type])) {
    return std::unique_ptr<BodySink>(new RecordsSink(ctx.engine, std::move(*request)));
  }
  return ApiStatus(StatusCode::kInvalidArgument, "unsupported_media_type",
                   "a bulk run takes a text/csv body, or application/json {\"records\": [...]}; "
                   "got Content-Type '" +
                       std::string(ex.request()[http::field::content_type]) + "'");
}

// A file name safe inside a quoted Content-Disposition value.
std::string SafeFileName(const std::string& name) {
  std::string out;
  for (char c : name) {
    unsigned char u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || c == '"' || c == '\\' || c == '/' || u == 0x7f ? '_' : c);
  }
  return out.empty() ? "file.csv" : out;
}

Reply Download(RouteContext& ctx, Exchange& ex, BulkFileStream::Which which) {
  if (Status s = ex.CheckQuery({"queue"}); !s.ok()) return s;
  auto run = GetVisibleRun(ctx, ex, ex.path_param(0), ex.query("queue").value_or(""));
  if (!run.ok()) return run.status();
  auto stream = BulkFileStream::Open(ctx.engine.storage(), *run, which);
  if (!stream.ok()) return stream.status();
  Response head{http::status::ok, 11};
  head.set(http::field::content_type, "text/csv; charset=utf-8");
  head.set(http::field::content_disposition,
           "attachment; filename=\"" + SafeFileName((*stream)->name()) + "\"");
  // The output grows while the run goes: never let a cache keep an old copy.
  head.set(http::field::cache_control, "no-store");
  std::shared_ptr<BulkFileStream> shared = std::move(*stream);
  return Reply::Stream(std::move(head), [shared] { return shared->Next(); });
}

}  // namespace

void AddBulkRoutes(Router& router, RouteContext context) {
  router.AddUpload(http::verb::post, "/api/v1/runs",
                   [context](Exchange& ex) mutable { return UploadRun(context, ex); });
  router.Add(http::verb::get, "/api/v1/runs/{id}/input.csv", [context](Exchange& ex) mutable {
    return Download(context, ex, BulkFileStream::Which::kInput);
  });
  router.Add(http::verb::get, "/api/v1/runs/{id}/output.csv", [context](Exchange& ex) mutable {
    return Download(context, ex, BulkFileStream::Which::kOutput);
  });
}

}  // namespace taskmill::api
