// Routes of bulk CSV runs: uploads (streamed into storage) and downloads (streamed
// out of it). See routes_bulk.h.
#include "api/routes_bulk.h"

#include <taskmill/bulk.h>

#include <algorithm>
#include <boost/beast/http/field.hpp>
#include <boost/json.hpp>
#include <cctype>
#include <memory>

#include "api/api_error.h"
#include "api/json_body.h"
#include "api/run_request.h"
#include "api/utf8_text.h"

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

// The run options of an upload, from its query parameters: the keys of a JSON run
// body (run_request.h), with the same names and rules. Text keys are taken as they
// are; numbers and the JSON of args and data are parsed.
constexpr std::string_view kTextParams[] = {"function", "queue", "id", "conflict", "run_at"};
constexpr std::string_view kNumberParams[] = {
    "delay",           "priority", "max_attempts",   "retry_delay", "retry_delay_factor",
    "max_retry_delay", "timeout",  "time_to_resolve"};
constexpr std::string_view kJsonParams[] = {"args", "data"};

Result<BulkCreateRequest> RequestFromQuery(const Exchange& ex) {
  TASKMILL_RETURN_IF_ERROR(
      ex.CheckQuery({"function", "queue", "id", "conflict", "run_at", "delay", "priority",
                     "max_attempts", "retry_delay", "retry_delay_factor", "max_retry_delay",
                     "timeout", "time_to_resolve", "args", "data", "name", "account"}));
  if (ex.query("function").value_or("").empty()) {
    return ParameterError("function",
                          "name the bulk function to run, e.g. ?function=numbers.import");
  }
  json::object body;
  for (auto key : kTextParams) {
    if (auto value = ex.query(key); value && !value->empty()) body[key] = *value;
  }
  for (auto key : kNumberParams) {
    auto value = ex.query(key);
    if (!value || value->empty()) continue;
    JsonProblem problem;
    auto number = ParseStrictJson(*value, &problem);
    if (!number || !number->is_number()) {
      return ParameterError(key, "expected a number, got '" + *value + "'");
    }
    body[key] = std::move(*number);
  }
  for (auto key : kJsonParams) {
    auto value = ex.query(key);
    if (!value || value->empty()) continue;
    JsonProblem problem;
    auto parsed = ParseStrictJson(*value, &problem);
    if (!parsed) {
      std::string where = problem.field.empty() ? std::string() : " at " + problem.field;
      return ParameterError(key, "not valid JSON" + where + ": " + problem.message);
    }
    body[key] = std::move(*parsed);
  }
  auto parsed = ParseRunBody(body, RunBodyOptions{.kind = RunBodyKind::kCreate});
  if (!parsed.ok()) {
    // The same rule as for a JSON body, reported against the query parameter.
    const json::value& details = parsed.status().details();
    const json::value* field =
        details.is_object() ? details.get_object().if_contains("field") : nullptr;
    if (field && field->is_string() && !details.get_object().contains("code")) {
      std::string name(field->get_string());
      std::string message = parsed.status().message();
      if (message.starts_with(name + ": ")) message = message.substr(name.size() + 2);
      return ParameterError(name, message);
    }
    return parsed.status();
  }
  BulkCreateRequest request;
  request.run = std::move(parsed->request);
  request.conflict = parsed->conflict.value_or(ConflictMode::kError);
  if (auto name = ex.query("name"); name && !name->empty()) request.file_name = *name;
  TASKMILL_RETURN_IF_ERROR(ApplyAccount(ex, &request.run.account_id, &request.run.auth_account_id));
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

// The Content-Disposition of a download: an ASCII fallback name (anything else becomes
// '_') for old clients, and the name itself in RFC 5987 form (filename*=UTF-8''...).
// Header values must be ASCII here; the name may be any text, even bytes stored
// before names were checked, which become U+FFFD.
std::string ContentDisposition(const std::string& name) {
  std::string text = ValidUtf8(name.empty() ? std::string("file.csv") : name);
  std::string ascii;
  std::string encoded;
  constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    bool plain = u >= 0x20 && u < 0x7f && c != '"' && c != '\\' && c != '/';
    ascii.push_back(plain ? c : '_');
    // RFC 5987 attr-char: ALPHA / DIGIT / "!#$&+-.^_`|~"
    if (std::isalnum(u) || std::string_view("!#$&+-.^_`|~").find(c) != std::string_view::npos) {
      encoded.push_back(c);
    } else if (u != '/' && u != '\\') {
      encoded += '%';
      encoded += kHex[u >> 4];
      encoded += kHex[u & 15];
    } else {
      encoded.push_back('_');
    }
  }
  return "attachment; filename=\"" + ascii + "\"; filename*=UTF-8''" + encoded;
}

Reply Download(RouteContext& ctx, Exchange& ex, BulkFileStream::Which which) {
  if (Status s = ex.CheckQuery({"queue"}); !s.ok()) return s;
  auto run = GetVisibleRun(ctx, ex, ex.path_param(0), ex.query("queue").value_or(""));
  if (!run.ok()) return run.status();
  auto stream = BulkFileStream::Open(ctx.engine.storage(), *run, which);
  if (!stream.ok()) return stream.status();
  Response head{http::status::ok, 11};
  head.set(http::field::content_type, "text/csv; charset=utf-8");
  head.set(http::field::content_disposition, ContentDisposition((*stream)->name()));
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
