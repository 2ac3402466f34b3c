#include "cli/cron_command.h"

#include <taskmill/clock.h>

#include <boost/json.hpp>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/global_options.h"
#include "cron/cron.h"

namespace taskmill::cli {
namespace {
namespace json = boost::json;

constexpr int kMaxCount = 10000;

struct CronNextOptions {
  std::string expression;
  int count = 5;
  std::string from;  // RFC 3339; Default: now
  std::string tz = "UTC";
  bool json = false;
};

int Usage(const std::string& message) {
  std::cerr << "error: " << message << "\n";
  return 2;
}

int CronNext(const CronNextOptions& o) {
  auto schedule = cron::Schedule::Parse(o.expression);
  if (!schedule.ok()) {
    return Usage(schedule.status().message() + " (in '" + o.expression + "')");
  }
  auto zone = cron::LocateZone(o.tz);
  if (!zone.ok()) {
    return Usage("--tz: " + zone.status().message() +
                 "; expected an IANA name such as UTC or America/New_York");
  }
  TimePoint from = SystemClock::Instance().Now();
  if (!o.from.empty() && !ParseTime(o.from, &from)) {
    return Usage("--from: '" + o.from +
                 "' is not an RFC 3339 instant; expected e.g. 2026-01-01T00:00:00Z or "
                 "2026-01-01T09:00:00+01:00");
  }
  if (o.count < 1 || o.count > kMaxCount) {
    return Usage("--count: must be between 1 and " + std::to_string(kMaxCount) + ", got " +
                 std::to_string(o.count));
  }

  std::vector<TimePoint> next;
  next.reserve(static_cast<size_t>(o.count));
  for (TimePoint after = from; static_cast<int>(next.size()) < o.count;) {
    auto instant = schedule->Next(after, *zone);
    if (!instant) break;
    next.push_back(*instant);
    after = *instant;
  }

  if (o.json) {
    json::array instants;
    for (TimePoint t : next) instants.emplace_back(cron::FormatInZone(t, *zone));
    json::object out{{"expression", o.expression},
                     {"timezone", o.tz},
                     {"from", cron::FormatInZone(from, *zone)},
                     {"next", std::move(instants)}};
    std::cout << json::serialize(out) << "\n";
  } else {
    for (TimePoint t : next) std::cout << cron::FormatInZone(t, *zone) << "\n";
  }
  if (next.empty() && !o.json) {
    // Not an error: "0 0 0 30 2 *" is valid and never fires.
    std::cerr << "no fire instant within 8 years of " << cron::FormatInZone(from, *zone) << "\n";
  }
  return 0;
}

}  // namespace

void AddCronCommand(CLI::App& app) {
  auto* cron = app.add_subcommand("cron", "Cron expressions: compute fire instants");
  cron->require_subcommand(1);
  auto opts = std::make_shared<CronNextOptions>();
  auto* next = cron->add_subcommand(
      "next", "Print the next fire instants of EXPR (ISO 8601 with the zone's offset)");
  next->add_option("EXPR", opts->expression,
                   "Cron expression: 'sec min hour day month weekday', 5 fields, or a macro")
      ->required();
  next->add_option("-n,--count", opts->count, "How many instants")->capture_default_str();
  next->add_option("--from", opts->from, "Start after this RFC 3339 instant (default: now)");
  next->add_option("--tz", opts->tz, "IANA time zone of the schedule")->capture_default_str();
  next->callback([opts] {
    opts->json = JsonRequested();  // --json: one JSON object
    throw CLI::RuntimeError(CronNext(*opts));
  });
}

}  // namespace taskmill::cli
