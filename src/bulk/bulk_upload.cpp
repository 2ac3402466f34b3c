// Creating bulk runs: the upload is staged in storage chunk by chunk as it arrives,
// validated by reading it back (so memory stays bounded whatever the size), and
// committed together with its run in one storage call, or deleted.
#include <taskmill/bulk.h>

#include <boost/json.hpp>
#include <istream>
#include <set>

#include "bulk/bulk_handler.h"
#include "bulk/bulk_layout.h"
#include "bulk/csv_validation.h"
#include "bulk/stored_file.h"
#include "core/lifecycle/run_notifier.h"
#include "csv/csv_reader.h"
#include "csv/csv_writer.h"

namespace taskmill {
namespace json = boost::json;

namespace {

Status NotACsvFunction(const std::string& function, const std::string& input) {
  json::object details;
  details["code"] = "not_a_csv_function";
  details["field"] = "function";
  return Status::InvalidArgument(
      "function '" + function + "' takes " +
          (input == "none" ? std::string("no input") : "a JSON input, not a CSV") +
          "; create its runs without a CSV",
      std::move(details));
}

std::string SizeText(int64_t bytes) {
  if (bytes % (int64_t{1} << 30) == 0) return std::to_string(bytes >> 30) + " GiB";
  if (bytes % (int64_t{1} << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  if (bytes % (int64_t{1} << 10) == 0) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " bytes";
}

}  // namespace

Result<std::unique_ptr<BulkUpload>> BulkUpload::Start(Engine& engine, BulkCreateRequest request) {
  auto run = engine.PrepareRun(request.run);
  if (!run.ok()) return run.status();
  const auto* entry = engine.functions().Find(run->function);
  const bulk::BulkHandler* handler = entry ? bulk::AsBulkHandler(entry->handler.get()) : nullptr;
  if (!entry) return Status::NotFound("no function '" + run->function + "' on this node");
  if (!handler || entry->info.input != "csv") {
    return NotACsvFunction(run->function, entry->info.input);
  }
  std::unique_ptr<BulkUpload> upload(new BulkUpload());
  upload->engine_ = &engine;
  upload->options_ = handler->runtime().options();
  upload->mandatory_ = entry->info.mandatory;
  upload->optional_ = entry->info.optional;
  upload->conflict_ = request.conflict;
  upload->run_ = std::move(*run);
  upload->file_id_ = NewRunId(engine.clock().Now());
  upload->run_.input_file = upload->file_id_;
  FileCreateParams file;
  file.id = upload->file_id_;
  file.name = request.file_name.empty() ? std::string("input.csv") : request.file_name;
  file.now = engine.clock().Now();
  TASKMILL_RETURN_IF_ERROR(engine.storage().FileCreate(file));
  return upload;
}

BulkUpload::~BulkUpload() { Abandon(); }

void BulkUpload::Abandon() {
  if (done_) return;
  done_ = true;
  // Best effort: what is left behind is removed by FilePruneStaged.
  (void)engine_->storage().FileRemove(file_id_);
}

Status BulkUpload::Append(std::string_view bytes) {
  if (done_) return Status::FailedPrecondition("the upload is already finished or abandoned");
  if (bytes_ + static_cast<int64_t>(bytes.size()) > options_.max_file_size) {
    Abandon();
    return Status::TooLarge("the CSV is larger than the limit of " +
                            SizeText(options_.max_file_size) +
                            " (bulk max_file_size); split it into several runs");
  }
  bytes_ += static_cast<int64_t>(bytes.size());
  // Exact chunk_size pieces: a large Append is cut, small ones are gathered.
  while (!bytes.empty()) {
    size_t take = std::min(bytes.size(), options_.chunk_size - pending_.size());
    pending_.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
    if (pending_.size() == options_.chunk_size) TASKMILL_RETURN_IF_ERROR(Flush());
  }
  return Status::Ok();
}

Status BulkUpload::Flush() {
  if (pending_.empty()) return Status::Ok();
  Status st = engine_->storage().FileAppend(file_id_, chunks_, pending_);
  if (!st.ok()) {
    Abandon();
    return st;
  }
  ++chunks_;
  pending_.clear();
  return Status::Ok();
}

Result<Run> BulkUpload::Finish() {
  if (done_) return Status::FailedPrecondition("the upload is already finished or abandoned");
  TASKMILL_RETURN_IF_ERROR(Flush());
  Storage& storage = engine_->storage();

  // Read ahead: storage's writer is idle now, so its reads overlap the parsing.
  bulk::PrefetchingSource source(storage, file_id_, chunks_);
  csv::ReaderOptions reader_options;
  reader_options.max_record_size = options_.max_record_size;
  csv::Reader reader([&source](char* buf, size_t cap) { return source.Read(buf, cap); },
                     reader_options);
  bulk::CsvCheck check;
  try {
    check = bulk::CheckCsv(reader, mandatory_, optional_, options_.max_reported_errors);
  } catch (const bulk::StorageReadError& e) {
    Abandon();
    return e.status();
  }
  if (!check.ok()) {
    Abandon();
    return bulk::CheckStatus(check, "the CSV", run_.function);
  }

  run_.progress.total = check.rows;
  RunPutParams params;
  params.runs = {run_};
  params.conflict = conflict_;
  params.commit_files = {file_id_};
  auto stored = storage.RunPut(std::move(params));
  if (!stored.ok()) {
    Abandon();
    return stored.status();
  }
  Run run = std::move(stored->front());
  if (run.input_file != file_id_) {
    Abandon();  // kIgnore answered a run stored before: this upload is not needed
  }
  done_ = true;
  RunNotifier(engine_->events(), [engine = engine_](TimePoint due) {
    engine->RunStored(due);
  }).Created(run);
  return run;
}

Result<Run> CreateBulkRun(Engine& engine, BulkCreateRequest request, std::string_view csv) {
  auto upload = BulkUpload::Start(engine, std::move(request));
  if (!upload.ok()) return upload.status();
  TASKMILL_RETURN_IF_ERROR((*upload)->Append(csv));
  return (*upload)->Finish();
}

Result<Run> CreateBulkRun(Engine& engine, BulkCreateRequest request, std::istream& csv) {
  auto upload = BulkUpload::Start(engine, std::move(request));
  if (!upload.ok()) return upload.status();
  std::string buffer(size_t{256} << 10, '\0');
  for (;;) {
    csv.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    std::streamsize got = csv.gcount();
    if (got > 0) {
      TASKMILL_RETURN_IF_ERROR(
          (*upload)->Append(std::string_view(buffer.data(), static_cast<size_t>(got))));
    }
    if (!csv) break;
  }
  if (csv.bad()) return Status::InvalidArgument("cannot read the CSV stream");
  return (*upload)->Finish();
}

Result<Run> CreateBulkRunFromRecords(Engine& engine, BulkCreateRequest request,
                                     const json::value& records) {
  auto field_error = [](std::string field, std::string message) {
    json::object details;
    details["field"] = field;
    return Status::InvalidArgument(field + ": " + message, std::move(details));
  };
  if (!records.is_array()) return field_error("records", "expected an array of objects");
  const json::array& items = records.get_array();
  if (items.empty()) return field_error("records", "must hold at least one record");
  std::vector<std::string> header;
  std::set<std::string, std::less<>> known;
  for (size_t i = 0; i < items.size(); ++i) {
    if (!items[i].is_object()) {
      return field_error("records[" + std::to_string(i) + "]", "expected an object");
    }
    for (const auto& kv : items[i].get_object()) {
      if (known.emplace(kv.key()).second) header.emplace_back(kv.key());
    }
  }
  if (request.file_name.empty() || request.file_name == "input.csv") {
    request.file_name = "records.csv";
  }
  auto upload = BulkUpload::Start(engine, std::move(request));
  if (!upload.ok()) return upload.status();
  Status sink_status;
  csv::Writer writer([&](std::string_view bytes) {
    if (sink_status.ok()) sink_status = (*upload)->Append(bytes);
  });
  writer.WriteRecord(header);
  std::string text;
  for (size_t i = 0; i < items.size(); ++i) {
    const json::object& record = items[i].get_object();
    for (const auto& column : header) {
      const json::value* v = record.if_contains(column);
      if (!v || v->is_null()) {
        writer.WriteField({});
      } else if (v->is_string()) {
        writer.WriteField(v->get_string());
      } else if (bulk::ScalarText(*v, &text)) {
        writer.WriteField(text);
      } else {
        return field_error("records[" + std::to_string(i) + "]." + column,
                           "expected a string, number, boolean or null");
      }
    }
    writer.EndRecord();
    if (!sink_status.ok()) return sink_status;
  }
  writer.Flush();
  TASKMILL_RETURN_IF_ERROR(sink_status);
  return (*upload)->Finish();
}

}  // namespace taskmill
