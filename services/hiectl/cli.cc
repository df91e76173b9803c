#include "services/hiectl/cli.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/create_channel.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "hie/identity/v1/identity.grpc.pb.h"
#include "services/common/logging.h"
#include "services/common/status.h"
#include "services/common/text.h"
#include "services/common/tls.h"
#include "services/hiectl/commands.h"
#include "services/hiectl/render.h"

namespace hie::hiectl {
namespace {

namespace id = ::hie::identity::v1;
using Stub = id::IdentityService::StubInterface;

std::string ToJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(message, &json, options).ok()) {
    return "{\"error\":\"cannot encode the response as JSON\"}";
  }
  return json;
}

std::shared_ptr<grpc::Channel> MakeChannel(const Config& config, std::string* error) {
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds = hie::MakeTlsChannelCredentials(
      {config.Get("tls-ca"), config.Get("tls-cert"), config.Get("tls-key")});
  if (!creds.ok()) {
    *error = std::string(creds.status().message());
    return nullptr;
  }
  return grpc::CreateChannel(config.Get("target"), *creds);
}

// Everything a command needs: flags, stub, deadline, output mode, randomness.
class Session {
 public:
  Session(Config config, absl::Duration timeout, bool json)
      : config_(std::move(config)), timeout_(timeout), json_(json), rng_(std::random_device{}()) {}

  const Config& config() const { return config_; }
  bool json() const { return json_; }

  // Connects on first use (so that usage errors are reported before TLS files are read).
  // Prints the error and returns false when the TLS files are unusable.
  bool Connect() {
    if (stub_ != nullptr) return true;
    std::string error;
    std::shared_ptr<grpc::Channel> channel = MakeChannel(config_, &error);
    if (channel == nullptr) {
      std::cerr << "hiectl: " << error << "\n";
      return false;
    }
    stub_ = id::IdentityService::NewStub(channel);
    return true;
  }
  // Only after Connect() returned true.
  Stub& stub() { return *stub_; }

  std::string NewId() {
    std::lock_guard<std::mutex> lock(mu_);
    return RandomId(rng_);
  }

  // Deadline, and the request id also as `x-request-id` metadata, which the hub's RPC logs
  // record (services/common/server.h RequestIdOf).
  void Prepare(grpc::ClientContext* context, const std::string& request_id) const {
    context->set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
    context->AddMetadata("x-request-id", request_id);
  }

  // Fills context (and a missing idempotency key), makes the call, prints the response or the
  // error. Returns the exit status.
  template <typename Req, typename Resp, typename Fn>
  int Call(absl::string_view rpc, Req& request, Fn fn,
           const std::function<std::string(const Resp&)>& render) {
    std::string request_id = NewId();
    absl::StatusOr<hie::common::v1::RequestContext> context = BuildContext(config_, request_id);
    if (!context.ok()) {
      std::cerr << "hiectl: " << context.status().message() << "\n";
      return 2;
    }
    *request.mutable_context() = *context;
    std::string idempotency_key;
    if constexpr (requires { request.idempotency_key(); }) {
      if (request.idempotency_key().empty()) request.set_idempotency_key(NewId());
      idempotency_key = request.idempotency_key();
    }
    if (!Connect()) return 2;
    grpc::ClientContext call;
    Prepare(&call, request_id);
    Resp response;
    grpc::Status status = fn(&call, request, &response);
    if (!status.ok()) {
      std::cerr << "hiectl: " << rpc << " failed: " << hie::GrpcCodeName(status.error_code())
                << ": " << status.error_message() << " (request id " << request_id << ")\n";
      grpc::StatusCode code = status.error_code();
      bool unknown_outcome = code == grpc::StatusCode::UNKNOWN ||
                             code == grpc::StatusCode::DEADLINE_EXCEEDED ||
                             code == grpc::StatusCode::UNAVAILABLE;
      if (!idempotency_key.empty() && unknown_outcome) {
        std::cerr << "hiectl: the change may or may not have been made; retry safely with "
                  << "--idempotency-key=" << idempotency_key << "\n";
      } else if (code == grpc::StatusCode::ABORTED) {
        std::cerr << "hiectl: nothing was changed: a concurrent change (or a stale etag); look "
                     "again and retry\n";
      }
      return ExitCodeForGrpcCode(status.error_code());
    }
    // Text output holds what clinics sent; a control character must not reach the terminal.
    std::cout << (json_ ? ToJson(response) + "\n"
                        : hie::PrintableText(render(response), /*keep_newlines=*/true));
    return 0;
  }

 private:
  Config config_;
  std::unique_ptr<Stub> stub_;
  absl::Duration timeout_;
  bool json_;
  std::mutex mu_;
  std::mt19937_64 rng_;
};

int Usage(const absl::Status& status) {
  std::cerr << "hiectl: " << status.message() << "\n";
  return 2;
}

int Health(const Config& config, absl::Duration timeout, bool json) {
  std::string error;
  std::shared_ptr<grpc::Channel> channel = MakeChannel(config, &error);
  if (channel == nullptr) return Usage(absl::InvalidArgumentError(error));
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(config.Get("service"));
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, request, &response);
  std::string target = config.Get("target");
  if (!status.ok()) {
    if (json) {
      std::cout << "{\"target\":" << hie::JsonQuote(target)
                << ",\"error\":" << hie::JsonQuote(status.error_message()) << "}\n";
    } else {
      std::cerr << "hiectl: cannot check " << target << ": " << status.error_message() << "\n";
    }
    return 2;
  }
  std::string name = grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
  if (json) {
    std::cout << "{\"target\":" << hie::JsonQuote(target)
              << ",\"service\":" << hie::JsonQuote(request.service()) << ",\"status\":\"" << name
              << "\"}\n";
  } else {
    std::cout << target << (request.service().empty() ? "" : " " + request.service()) << ": "
              << name << "\n";
  }
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 1;
}

// Rows per RegisterSourceRecords call of `register --file`.
constexpr size_t kRowsPerCall = 50;

// register --file: the good rows in RegisterSourceRecords calls of up to kRowsPerCall rows, up
// to --parallel calls in flight; with --validate-only, one RegisterSourceRecord dry run per row
// (a batch is never a dry run).
int RegisterFile(Session& session) {
  const Config& config = session.config();
  for (const char* key :
       {"org", "local-id", "given", "middle", "family", "sex", "birth-date", "address-line", "city",
        "state", "postal-code", "phone", "email", "ssn", "idempotency-key"}) {
    if (!config.Get(key).empty()) {
      return Usage(absl::InvalidArgumentError(
          absl::StrCat("--file cannot be combined with --", key, " (the file gives every row)")));
    }
  }
  absl::StatusOr<int64_t> parallel = config.GetInt("parallel");
  if (!parallel.ok()) return Usage(parallel.status());
  if (*parallel < 1 || *parallel > 16) {
    return Usage(absl::InvalidArgumentError("--parallel must be between 1 and 16"));
  }
  absl::StatusOr<bool> validate_only = config.GetBool("validate-only");
  if (!validate_only.ok()) return Usage(validate_only.status());
  absl::StatusOr<std::string> text = hie::ReadFileToString(config.Get("file"));
  if (!text.ok()) return Usage(text.status());
  absl::StatusOr<CsvEncoding> encoding = ParseCsvEncoding(config.Get("encoding"), "--encoding");
  if (!encoding.ok()) return Usage(encoding.status());
  absl::StatusOr<BulkFile> file = ParseBulkFile(*text, *encoding);
  if (!file.ok()) {
    std::cerr << "hiectl: " << config.Get("file") << ": " << file.status().message() << "\n";
    return 2;
  }
  // A dry run must not use (and so spoil) the key of the real registration.
  if (*validate_only) {
    for (BulkRow& row : file->rows) {
      row.request.set_validate_only(true);
      row.request.set_idempotency_key(row.request.idempotency_key() + "-validate");
    }
  }

  if (absl::Status s = BuildContext(config, "check").status(); !s.ok()) return Usage(s);
  if (!session.Connect()) return 2;
  BulkSummary summary;
  summary.rows = static_cast<int>(file->rows.size() + file->errors.size());
  summary.errors = static_cast<int>(file->errors.size());
  for (const BulkRowError& error : file->errors) {
    std::cerr << "hiectl: " << config.Get("file") << ": " << error.message << " (skipped)\n";
  }

  std::mutex mu;  // guards summary and output
  std::atomic<bool> stop{false};
  std::atomic<int> sent{0};
  // Rows of one record always go to the same worker, in file order, so that successive versions
  // of a record in one file are registered in the order the file gives them (the entries of a
  // call are decided in order).
  auto shard_of = [&](const BulkRow& row) {
    return std::hash<std::string>{}(absl::StrCat(row.request.source_id().org(), "\n",
                                                 row.request.source_id().local_id())) %
           static_cast<size_t>(*parallel);
  };
  // Counts and prints one row's answer; mu held.
  auto report = [&](const BulkRow& row, const grpc::Status& status,
                    const id::RegisterSourceRecordResponse& response,
                    const std::string& request_id) {
    if (!status.ok()) {
      ++summary.errors;
      std::cerr << "hiectl: line " << row.line << ": " << FormatSourceId(row.request.source_id())
                << ": " << hie::GrpcCodeName(status.error_code()) << ": " << status.error_message()
                << " (request id " << request_id << ")\n";
      if (ExitCodeForGrpcCode(status.error_code()) == 2) stop = true;
      return;
    }
    if (response.created()) ++summary.created;
    if (response.stale()) ++summary.stale;
    switch (response.decision().outcome()) {
      case id::MATCH_OUTCOME_NEW_PERSON:
        ++summary.new_person;
        break;
      case id::MATCH_OUTCOME_LINKED:
        ++summary.linked;
        break;
      case id::MATCH_OUTCOME_REVIEW:
        ++summary.review;
        break;
      case id::MATCH_OUTCOME_UNCHANGED:
        ++summary.unchanged;
        break;
      default:
        break;
    }
    if (session.json()) {
      std::cout << "{\"line\":" << row.line << ",\"response\":" << ToJson(response) << "}\n";
    } else {
      std::cout << hie::PrintableText(RenderBulkRow(row.line, row.request, response),
                                      /*keep_newlines=*/true);
      for (const hie::common::v1::FieldWarning& warning : response.warnings()) {
        std::cerr << "hiectl: line " << row.line << ": warning: " << warning.field() << ": "
                  << hie::PrintableText(warning.message()) << "\n";
      }
    }
  };
  // One call for `rows` (one row with --validate-only).
  auto send = [&](const std::vector<const BulkRow*>& rows) {
    if (rows.empty()) return;
    const std::string request_id = session.NewId();
    absl::StatusOr<hie::common::v1::RequestContext> context = BuildContext(config, request_id);
    if (!context.ok()) {
      std::lock_guard<std::mutex> lock(mu);
      std::cerr << "hiectl: " << context.status().message() << "\n";
      stop = true;
      return;
    }
    grpc::ClientContext call;
    session.Prepare(&call, request_id);
    std::vector<grpc::Status> statuses(rows.size());
    std::vector<id::RegisterSourceRecordResponse> responses(rows.size());
    if (*validate_only) {
      id::RegisterSourceRecordRequest request = rows[0]->request;
      *request.mutable_context() = *context;
      statuses[0] = session.stub().RegisterSourceRecord(&call, request, &responses[0]);
    } else {
      id::RegisterSourceRecordsRequest request;
      *request.mutable_context() = *context;
      for (const BulkRow* row : rows) *request.add_registrations() = row->request;
      id::RegisterSourceRecordsResponse out;
      grpc::Status status = session.stub().RegisterSourceRecords(&call, request, &out);
      if (status.ok() && out.results_size() != static_cast<int>(rows.size())) {
        status = grpc::Status(grpc::StatusCode::INTERNAL,
                              "the server answered a different number of results");
      }
      for (size_t k = 0; k < rows.size(); ++k) {
        if (!status.ok()) {
          statuses[k] = status;
          continue;
        }
        const id::RegisterSourceRecordResult& result = out.results(static_cast<int>(k));
        statuses[k] = grpc::Status(static_cast<grpc::StatusCode>(result.code()), result.message());
        responses[k] = result.response();
      }
    }
    sent += static_cast<int>(rows.size());
    std::lock_guard<std::mutex> lock(mu);
    for (size_t k = 0; k < rows.size(); ++k)
      report(*rows[k], statuses[k], responses[k], request_id);
  };
  auto worker = [&](size_t shard) {
    const size_t rows_per_call = *validate_only ? 1 : kRowsPerCall;
    std::vector<const BulkRow*> rows;
    for (const BulkRow& row : file->rows) {
      if (stop) return;
      if (shard_of(row) != shard) continue;
      rows.push_back(&row);
      if (rows.size() == rows_per_call) {
        send(rows);
        rows.clear();
      }
    }
    if (!stop) send(rows);
  };
  std::vector<std::thread> threads;
  for (int64_t t = 1; t < *parallel; ++t) threads.emplace_back(worker, static_cast<size_t>(t));
  worker(0);
  for (std::thread& t : threads) t.join();

  summary.not_sent = static_cast<int>(file->rows.size()) - sent;
  if (*validate_only) std::cerr << "dry run (--validate-only): nothing was stored\n";
  // The summary goes to stderr in JSON mode so that stdout stays one JSON object per line.
  (session.json() ? std::cerr : std::cout) << RenderBulkSummary(summary);
  if (stop) {
    std::cerr << "hiectl: stopped: the server could not be reached or timed out; re-running the "
                 "file is safe "
                 "(rows already registered are recognised by their idempotency keys)\n";
    return 2;
  }
  return summary.errors > 0 ? 1 : 0;
}

template <typename Req>
int BuildFailed(const absl::StatusOr<Req>& request) {
  return Usage(request.status());
}

int RunIdentity(const CommandSpec& spec, const std::vector<std::string>& positionals, Config config,
                absl::Duration timeout, bool json) {
  Session s(std::move(config), timeout, json);
  const Config& flags = s.config();
  // The handlers below only dereference it inside Call, after Connect() succeeded.
  auto stub_of = [&s]() -> Stub& { return s.stub(); };
  const std::string& name = spec.name;

  if (name == "register") {
    if (!flags.Get("file").empty()) return RegisterFile(s);
    absl::StatusOr<id::RegisterSourceRecordRequest> request = BuildRegisterRequest(flags);
    if (!request.ok()) return BuildFailed(request);
    bool validate_only = request->validate_only();
    absl::StatusOr<bool> explain = flags.GetBool("explain");
    if (!explain.ok()) return Usage(explain.status());
    return s.Call<id::RegisterSourceRecordRequest, id::RegisterSourceRecordResponse>(
        "RegisterSourceRecord", *request,
        [&](auto* c, const auto& q, auto* r) { return stub_of().RegisterSourceRecord(c, q, r); },
        [&](const id::RegisterSourceRecordResponse& r) {
          return RenderRegister(r, validate_only, *explain);
        });
  }
  if (name == "resolve") {
    absl::StatusOr<id::ResolveRequest> request = BuildResolveRequest(flags);
    if (!request.ok()) return BuildFailed(request);
    return s.Call<id::ResolveRequest, id::ResolveResponse>(
        "Resolve", *request,
        [&](auto* c, const auto& q, auto* r) { return stub_of().Resolve(c, q, r); }, RenderResolve);
  }
  if (name == "search") {
    absl::StatusOr<id::SearchPersonsRequest> request = BuildSearchRequest(flags);
    if (!request.ok()) return BuildFailed(request);
    bool explain = *flags.GetBool("explain");  // validated by BuildSearchRequest
    return s.Call<id::SearchPersonsRequest, id::SearchPersonsResponse>(
        "SearchPersons", *request,
        [&](auto* c, const auto& q, auto* r) { return stub_of().SearchPersons(c, q, r); },
        [&](const id::SearchPersonsResponse& r) { return RenderSearch(r, explain); });
  }
  if (name == "review list") {
    absl::StatusOr<id::ListReviewTasksRequest> request = BuildListReviewTasksRequest(flags);
    if (!request.ok()) return BuildFailed(request);
    return s.Call<id::ListReviewTasksRequest, id::ListReviewTasksResponse>(
        "ListReviewTasks", *request,
        [&](auto* c, const auto& q, auto* r) { return stub_of().ListReviewTasks(c, q, r); },
        RenderReviewList);
  }
  if (name == "review show") {
    absl::StatusOr<id::GetReviewTaskRequest> request = BuildGetReviewTaskRequest(positionals);
    if (!request.ok()) return BuildFailed(request);
    return s.Call<id::GetReviewTaskRequest, id::ReviewTask>(
        "GetReviewTask", *request,
        [&](auto* c, const auto& q, auto* r) { return stub_of().GetReviewTask(c, q, r); },
        RenderReviewTask);
  }
  if (name == "review resolve") {
    absl::StatusOr<id::ResolveReviewTaskRequest> request =
        BuildResolveReviewTaskRequest(flags, positionals);
    if (!request.ok()) return BuildFailed(request);
    return s.Call<id::ResolveReviewTaskRequest, id::ResolveReviewTaskResponse>(
        "ResolveReviewTask", *request,
        [&](auto* c, const auto& q, auto* r) { return stub_of().ResolveReviewTask(c, q, r); },
        RenderResolveReview);
  }
  if (name == "link") {
    absl::StatusOr<id::LinkRecordRequest> request = BuildLinkRequest(flags);
    if (!request.ok()) return BuildFailed(request);
    return s.Call<id::LinkRecordRequest, id::LinkRecordResponse>(
        "LinkRecord", *request,
        [&](auto* c, const auto& q, auto* r) { return stub_of().LinkRecord(c, q, r); }, RenderLink);
  }
  if (name == "unlink") {
    absl::StatusOr<id::UnlinkRecordRequest> request = BuildUnlinkRequest(flags);
    if (!request.ok()) return BuildFailed(request);
    return s.Call<id::UnlinkRecordRequest, id::UnlinkRecordResponse>(
        "UnlinkRecord", *request,
        [&](auto* c, const auto& q, auto* r) { return stub_of().UnlinkRecord(c, q, r); },
        RenderUnlink);
  }
  if (name == "merge") {
    absl::StatusOr<id::MergePersonsRequest> request = BuildMergeRequest(flags);
    if (!request.ok()) return BuildFailed(request);
    return s.Call<id::MergePersonsRequest, id::MergePersonsResponse>(
        "MergePersons", *request,
        [&](auto* c, const auto& q, auto* r) { return stub_of().MergePersons(c, q, r); },
        RenderMerge);
  }
  if (name == "unmerge") {
    absl::StatusOr<id::UnmergePersonsRequest> request = BuildUnmergeRequest(flags);
    if (!request.ok()) return BuildFailed(request);
    return s.Call<id::UnmergePersonsRequest, id::UnmergePersonsResponse>(
        "UnmergePersons", *request,
        [&](auto* c, const auto& q, auto* r) { return stub_of().UnmergePersons(c, q, r); },
        RenderUnmerge);
  }
  if (name == "person") {
    absl::StatusOr<id::GetPersonRequest> request = BuildGetPersonRequest(flags, positionals);
    if (!request.ok()) return BuildFailed(request);
    return s.Call<id::GetPersonRequest, id::Person>(
        "GetPerson", *request,
        [&](auto* c, const auto& q, auto* r) { return stub_of().GetPerson(c, q, r); },
        RenderPerson);
  }
  if (name == "record") {
    absl::StatusOr<id::GetSourceRecordRequest> request = BuildGetSourceRecordRequest(flags);
    if (!request.ok()) return BuildFailed(request);
    return s.Call<id::GetSourceRecordRequest, id::SourceRecord>(
        "GetSourceRecord", *request,
        [&](auto* c, const auto& q, auto* r) { return stub_of().GetSourceRecord(c, q, r); },
        RenderSourceRecord);
  }
  if (name == "history") {
    absl::StatusOr<id::GetHistoryRequest> request = BuildGetHistoryRequest(flags);
    if (!request.ok()) return BuildFailed(request);
    return s.Call<id::GetHistoryRequest, id::GetHistoryResponse>(
        "GetHistory", *request,
        [&](auto* c, const auto& q, auto* r) { return stub_of().GetHistory(c, q, r); },
        RenderHistory);
  }
  std::cerr << "hiectl: BUG: command '" << name << "' has no handler\n";
  return 2;
}

}  // namespace

int Run(const std::vector<std::string>& args, const char* const* envp) {
  // The hub takes the operator's user id from the certificate (its CN); --user may only repeat it.
  std::vector<CommandSpec> specs = CommandSpecs("");
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    (args.empty() ? std::cerr : std::cout) << GeneralUsage(specs);
    return args.empty() ? 2 : 0;
  }
  absl::StatusOr<FoundCommand> found = FindCommand(specs, args);
  if (!found.ok()) {
    std::cerr << "hiectl: " << found.status().message() << "\n\n" << GeneralUsage(specs);
    return 2;
  }
  const CommandSpec& spec = found->spec;
  std::vector<std::string> rest(args.begin() + found->words, args.end());
  SplitArgs split = SplitCommandLine(rest, spec.keys);
  absl::StatusOr<Config> config = LoadFlags(spec.keys, split.flags, envp);
  if (!config.ok()) {
    std::cerr << "hiectl " << spec.name << ": " << config.status().message() << " (hiectl "
              << spec.name << " --help lists the flags)\n";
    return 2;
  }
  if (config->help_requested()) {
    std::cout << CommandUsage(spec);
    return 0;
  }
  if (static_cast<int>(split.positionals.size()) != spec.positionals) {
    std::cerr
        << "hiectl " << spec.name << ": "
        << (split.positionals.size() > static_cast<size_t>(spec.positionals)
                ? absl::StrCat("unexpected argument '", split.positionals[spec.positionals], "'")
                : absl::StrCat("missing argument: usage: hiectl ", spec.name, " ", spec.synopsis))
        << "\n";
    return 2;
  }
  absl::StatusOr<absl::Duration> timeout = config->GetDuration("timeout");
  if (!timeout.ok()) return Usage(timeout.status());
  absl::StatusOr<bool> json = config->GetBool("json");
  if (!json.ok()) return Usage(json.status());
  if (spec.name == "health") return Health(*config, *timeout, *json);
  return RunIdentity(spec, split.positionals, *std::move(config), *timeout, *json);
}

}  // namespace hie::hiectl
