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
#include <tuple>
#include <variant>

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

// An identity RPC: its name (for error messages) and the stub method that sends it.
template <typename Req, typename Resp>
struct Rpc {
  const char* name;
  grpc::Status (Stub::*send)(grpc::ClientContext*, const Req&, Resp*);
};
template <typename Req, typename Resp>
constexpr Rpc<Req, Resp> MakeRpc(const char* name, grpc::Status (Stub::*send)(grpc::ClientContext*,
                                                                              const Req&, Resp*)) {
  return {name, send};
}

// Every identity RPC a command may make, looked up by its types (RpcOf): the typed handlers of
// the UnaryCall actions of the command table. An Action with no entry here does not compile.
constexpr auto kRpcs = std::make_tuple(
    MakeRpc("RegisterSourceRecord", &Stub::RegisterSourceRecord),
    MakeRpc("Resolve", &Stub::Resolve), MakeRpc("SearchPersons", &Stub::SearchPersons),
    MakeRpc("ListReviewTasks", &Stub::ListReviewTasks),
    MakeRpc("GetReviewTask", &Stub::GetReviewTask),
    MakeRpc("ResolveReviewTask", &Stub::ResolveReviewTask),
    MakeRpc("LinkRecord", &Stub::LinkRecord), MakeRpc("UnlinkRecord", &Stub::UnlinkRecord),
    MakeRpc("MergePersons", &Stub::MergePersons), MakeRpc("UnmergePersons", &Stub::UnmergePersons),
    MakeRpc("GetPerson", &Stub::GetPerson), MakeRpc("GetSourceRecord", &Stub::GetSourceRecord),
    MakeRpc("GetHistory", &Stub::GetHistory));

template <typename Req, typename Resp>
constexpr const Rpc<Req, Resp>& RpcOf() {
  return std::get<Rpc<Req, Resp>>(kRpcs);
}

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
  absl::Duration timeout() const { return timeout_; }
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

  // Fills the request's context (and a missing idempotency key), sends it with `rpc`, prints
  // the response or the error. Returns the exit status.
  template <typename Req, typename Resp>
  int Call(const Rpc<Req, Resp>& rpc, UnaryCall<Req, Resp>& unary) {
    Req& request = unary.request;
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
    grpc::Status status = ((*stub_).*rpc.send)(&call, request, &response);
    if (!status.ok()) {
      std::cerr << "hiectl: " << rpc.name << " failed: " << hie::GrpcCodeName(status.error_code())
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
                        : hie::PrintableText(unary.render(response), /*keep_newlines=*/true));
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

int Health(const Config& config, const HealthCheck& check, absl::Duration timeout, bool json) {
  std::string error;
  std::shared_ptr<grpc::Channel> channel = MakeChannel(config, &error);
  if (channel == nullptr) return Usage(absl::InvalidArgumentError(error));
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(check.service);
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

// The checked flags and the parsed file of `register --file`.
struct BulkInput {
  int parallel = 1;
  bool validate_only = false;
  BulkFile file;
};

// Checks the flags of `register --file`, reads and parses the file. Errors are for Usage().
absl::StatusOr<BulkInput> LoadBulkInput(const Config& config) {
  for (const char* key :
       {"org", "local-id", "given", "middle", "family", "sex", "birth-date", "address-line", "city",
        "state", "postal-code", "phone", "email", "ssn", "idempotency-key"}) {
    if (!config.Get(key).empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--file cannot be combined with --", key, " (the file gives every row)"));
    }
  }
  BulkInput input;
  HIE_ASSIGN_OR_RETURN(int64_t parallel, config.GetInt("parallel"));
  if (parallel < 1 || parallel > 16) {
    return absl::InvalidArgumentError("--parallel must be between 1 and 16");
  }
  input.parallel = static_cast<int>(parallel);
  HIE_ASSIGN_OR_RETURN(input.validate_only, config.GetBool("validate-only"));
  HIE_ASSIGN_OR_RETURN(std::string text, hie::ReadFileToString(config.Get("file")));
  HIE_ASSIGN_OR_RETURN(CsvEncoding encoding,
                       ParseCsvEncoding(config.Get("encoding"), "--encoding"));
  absl::StatusOr<BulkFile> file = ParseBulkFile(text, encoding);
  if (!file.ok()) {
    return absl::Status(file.status().code(),
                        absl::StrCat(config.Get("file"), ": ", file.status().message()));
  }
  input.file = *std::move(file);
  // A dry run must not use (and so spoil) the key of the real registration.
  if (input.validate_only) {
    for (BulkRow& row : input.file.rows) {
      row.request.set_validate_only(true);
      row.request.set_idempotency_key(row.request.idempotency_key() + "-validate");
    }
  }
  return input;
}

// One run of `register --file` over a connected session: the good rows in RegisterSourceRecords
// calls of up to kRowsPerCall rows, up to --parallel calls in flight; with --validate-only, one
// RegisterSourceRecord dry run per row (a batch is never a dry run).
class BulkRegistration {
 public:
  BulkRegistration(Session& session, BulkInput input)
      : session_(session), input_(std::move(input)) {}

  // Returns the exit status.
  int Run() {
    const BulkFile& file = input_.file;
    summary_.rows = static_cast<int>(file.rows.size() + file.errors.size());
    summary_.errors = static_cast<int>(file.errors.size());
    for (const BulkRowError& error : file.errors) {
      std::cerr << "hiectl: " << session_.config().Get("file") << ": " << error.message
                << " (skipped)\n";
    }
    std::vector<std::thread> threads;
    for (int t = 1; t < input_.parallel; ++t) {
      threads.emplace_back([this, t] { Work(static_cast<size_t>(t)); });
    }
    Work(0);
    for (std::thread& t : threads) t.join();

    summary_.not_sent = static_cast<int>(file.rows.size()) - sent_;
    if (input_.validate_only) std::cerr << "dry run (--validate-only): nothing was stored\n";
    // The summary goes to stderr in JSON mode so that stdout stays one JSON object per line.
    (session_.json() ? std::cerr : std::cout) << RenderBulkSummary(summary_);
    if (stop_) {
      std::cerr << "hiectl: stopped: the server could not be reached or timed out; re-running the "
                   "file is safe "
                   "(rows already registered are recognised by their idempotency keys)\n";
      return 2;
    }
    return summary_.errors > 0 ? 1 : 0;
  }

 private:
  // Rows of one record always go to the same worker, in file order, so that successive versions
  // of a record in one file are registered in the order the file gives them (the entries of a
  // call are decided in order).
  size_t ShardOf(const BulkRow& row) const {
    return std::hash<std::string>{}(absl::StrCat(row.request.source_id().org(), "\n",
                                                 row.request.source_id().local_id())) %
           static_cast<size_t>(input_.parallel);
  }

  // Sends the rows of `shard`, kRowsPerCall (or, dry run, one) at a time, until stop_.
  void Work(size_t shard) {
    const size_t rows_per_call = input_.validate_only ? 1 : kRowsPerCall;
    std::vector<const BulkRow*> rows;
    for (const BulkRow& row : input_.file.rows) {
      if (stop_) return;
      if (ShardOf(row) != shard) continue;
      rows.push_back(&row);
      if (rows.size() == rows_per_call) {
        Send(rows);
        rows.clear();
      }
    }
    if (!stop_) Send(rows);
  }

  // One call for `rows` (one row with --validate-only); reports every row's answer.
  void Send(const std::vector<const BulkRow*>& rows) {
    if (rows.empty()) return;
    const std::string request_id = session_.NewId();
    absl::StatusOr<hie::common::v1::RequestContext> context =
        BuildContext(session_.config(), request_id);
    if (!context.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      std::cerr << "hiectl: " << context.status().message() << "\n";
      stop_ = true;
      return;
    }
    grpc::ClientContext call;
    session_.Prepare(&call, request_id);
    std::vector<grpc::Status> statuses(rows.size());
    std::vector<id::RegisterSourceRecordResponse> responses(rows.size());
    if (input_.validate_only) {
      id::RegisterSourceRecordRequest request = rows[0]->request;
      *request.mutable_context() = *context;
      statuses[0] = session_.stub().RegisterSourceRecord(&call, request, &responses[0]);
    } else {
      SendBatch(&call, *context, rows, statuses, responses);
    }
    sent_ += static_cast<int>(rows.size());
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t k = 0; k < rows.size(); ++k) {
      Report(*rows[k], statuses[k], responses[k], request_id);
    }
  }

  // One RegisterSourceRecords call; each row's status and response.
  void SendBatch(grpc::ClientContext* call, const hie::common::v1::RequestContext& context,
                 const std::vector<const BulkRow*>& rows, std::vector<grpc::Status>& statuses,
                 std::vector<id::RegisterSourceRecordResponse>& responses) {
    id::RegisterSourceRecordsRequest request;
    *request.mutable_context() = context;
    for (const BulkRow* row : rows) *request.add_registrations() = row->request;
    id::RegisterSourceRecordsResponse out;
    grpc::Status status = session_.stub().RegisterSourceRecords(call, request, &out);
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

  // Counts and prints one row's answer; mu_ held.
  void Report(const BulkRow& row, const grpc::Status& status,
              const id::RegisterSourceRecordResponse& response, const std::string& request_id) {
    if (!status.ok()) {
      ++summary_.errors;
      std::cerr << "hiectl: line " << row.line << ": " << FormatSourceId(row.request.source_id())
                << ": " << hie::GrpcCodeName(status.error_code()) << ": " << status.error_message()
                << " (request id " << request_id << ")\n";
      if (ExitCodeForGrpcCode(status.error_code()) == 2) stop_ = true;
      return;
    }
    Count(response);
    if (session_.json()) {
      std::cout << "{\"line\":" << row.line << ",\"response\":" << ToJson(response) << "}\n";
      return;
    }
    std::cout << hie::PrintableText(RenderBulkRow(row.line, row.request, response),
                                    /*keep_newlines=*/true);
    for (const hie::common::v1::FieldWarning& warning : response.warnings()) {
      std::cerr << "hiectl: line " << row.line << ": warning: " << warning.field() << ": "
                << hie::PrintableText(warning.message()) << "\n";
    }
  }

  // mu_ held.
  void Count(const id::RegisterSourceRecordResponse& response) {
    if (response.created()) ++summary_.created;
    if (response.stale()) ++summary_.stale;
    switch (response.decision().outcome()) {
      case id::MATCH_OUTCOME_NEW_PERSON:
        ++summary_.new_person;
        break;
      case id::MATCH_OUTCOME_LINKED:
        ++summary_.linked;
        break;
      case id::MATCH_OUTCOME_REVIEW:
        ++summary_.review;
        break;
      case id::MATCH_OUTCOME_UNCHANGED:
        ++summary_.unchanged;
        break;
      default:
        break;
    }
  }

  Session& session_;
  const BulkInput input_;
  std::mutex mu_;  // guards summary_ and the output
  BulkSummary summary_;
  std::atomic<bool> stop_{false};
  std::atomic<int> sent_{0};
};

// register --file.
int RegisterFile(Session& session) {
  absl::StatusOr<BulkInput> input = LoadBulkInput(session.config());
  if (!input.ok()) return Usage(input.status());
  if (absl::Status s = BuildContext(session.config(), "check").status(); !s.ok()) return Usage(s);
  if (!session.Connect()) return 2;
  return BulkRegistration(session, *std::move(input)).Run();
}

// Performs each kind of Action of the command table (commands.h); std::visit in Run needs one
// overload per alternative.
int Perform(Session& session, const HealthCheck& check) {
  return Health(session.config(), check, session.timeout(), session.json());
}
int Perform(Session& session, const BulkRegister&) { return RegisterFile(session); }
template <typename Req, typename Resp>
int Perform(Session& session, UnaryCall<Req, Resp>& call) {
  return session.Call(RpcOf<Req, Resp>(), call);
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
  absl::StatusOr<Action> action = spec.plan(*config, split.positionals);
  if (!action.ok()) return Usage(action.status());
  Session session(*std::move(config), *timeout, *json);
  return std::visit([&session](auto& what) { return Perform(session, what); }, *action);
}

}  // namespace hie::hiectl
