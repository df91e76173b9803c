// The identity service end to end in one process: real gRPC with mutual TLS on loopback, the
// PostgreSQL store on a fresh database (HIE_TEST_PG_DSN), a real Redis cache (a redis-server
// owned by the test), the real matching engine. Long (about 1,200 lines): one fixture owns the
// servers, and starting them once per file keeps the suite fast.

#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <map>
#include <optional>
#include <pqxx/pqxx>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "hie/identity/v1/identity.grpc.pb.h"
#include "services/common/pg/migrations.h"
#include "services/common/server.h"
#include "services/common/worker_pool.h"
#include "services/identity/api/identity_service.h"
#include "services/identity/core/mpi_matcher.h"
#include "services/identity/store/migrations.h"
#include "services/identity/store/pg_identity_store.h"
#include "services/identity/store/redis_resolve_cache.h"
#include "tests/support/state_dump.h"
#include "tests/support/test_env.h"

namespace hie::identity {
namespace {

using ::hie::common::v1::Demographics;

// One running identity service ("a replica") over a given database.
class Replica {
 public:
  Replica(const std::string& dsn, int redis_port) {
    auto pool = pg::PgPool::Create({.dsn = dsn, .size = 4});
    EXPECT_TRUE(pool.ok()) << pool.status();
    pool_ = *std::move(pool);
    auto applied = pg::ApplyMigrations(*pool_, kSchema, Migrations(), absl::Now() + absl::Seconds(30));
    EXPECT_TRUE(applied.ok()) << applied.status();
    auto store = PgIdentityStore::Create(pool_.get());
    EXPECT_TRUE(store.ok());
    store_ = *std::move(store);
    matcher_ = std::make_unique<MpiMatcher>(hie::mpi::Model::DefaultParams(), nullptr);
    redis_ = std::make_unique<redis::RedisClient>(redis::RedisOptions{.port = redis_port});
    cache_ = std::make_unique<RedisResolveCache>(redis_.get());
    manager_ = std::make_unique<IdentityManager>(store_.get(), matcher_.get(), &clock_, cache_.get());
    auto rebuilt = manager_->RebuildIndex(absl::Now() + absl::Seconds(30));
    EXPECT_TRUE(rebuilt.ok());
    indexed_ = rebuilt.ok() ? *rebuilt : 0;
    workers_ = std::make_unique<WorkerPool>(8, 100);
    service_ = std::make_unique<IdentityServiceImpl>(manager_.get(), workers_.get());
    auto server = GrpcServer::Start({.service_name = "identity",
                                     .listen_address = "127.0.0.1:0",
                                     .tls = hie::testing::TestCertFiles("identity")},
                                    {service_.get()});
    EXPECT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }
  ~Replica() {
    service_->StopWatches();
    server_->Shutdown(absl::Seconds(1));
    workers_.reset();
  }

  std::unique_ptr<v1::IdentityService::Stub> Stub(const std::string& cert) {
    auto creds = MakeTlsChannelCredentials(hie::testing::TestCertFiles(cert));
    return v1::IdentityService::NewStub(
        grpc::CreateChannel(absl::StrCat("localhost:", server_->port()), *creds));
  }
  size_t indexed() const { return indexed_; }
  IdentityManager& manager() { return *manager_; }

 private:
  SystemClock clock_;
  std::unique_ptr<pg::PgPool> pool_;
  std::unique_ptr<PgIdentityStore> store_;
  std::unique_ptr<MpiMatcher> matcher_;
  std::unique_ptr<redis::RedisClient> redis_;
  std::unique_ptr<RedisResolveCache> cache_;
  std::unique_ptr<IdentityManager> manager_;
  std::unique_ptr<WorkerPool> workers_;
  std::unique_ptr<IdentityServiceImpl> service_;
  std::unique_ptr<GrpcServer> server_;
  size_t indexed_ = 0;
};

Demographics Alice() {
  Demographics d;
  d.mutable_name()->set_given("Alice");
  d.mutable_name()->set_family("Vandermeer");
  d.set_birth_date("1984-03-12");
  d.set_sex(hie::common::v1::SEX_FEMALE);
  auto* a = d.add_addresses();
  a->add_lines("12 Birch Lane");
  a->set_city("Springfield");
  a->set_postal_code("62704");
  d.add_phones()->set_value("217-555-0143");
  return d;
}

Demographics Bob() {
  Demographics d;
  d.mutable_name()->set_given("Robert");
  d.mutable_name()->set_family("Okonkwo");
  d.set_birth_date("1951-11-02");
  d.set_sex(hie::common::v1::SEX_MALE);
  d.add_phones()->set_value("937-555-0198");
  return d;
}

// Patient number n: name, birth date, street, postal code and phone of their own, so that
// patients of different numbers never match each other. Two records of one number are an exact
// copy (a CERTAIN match at two organisations).
Demographics Patient(int n) {
  static const char* kFamily[] = {"Lindqvist", "Haddad",   "Moreau", "Takahashi",
                                  "Kowalski",  "Brennan",  "Osei",   "Ferreira",
                                  "Novak",     "Castillo", "Larsen", "Abernathy"};
  static const char* kGiven[] = {"Ingrid", "Karim", "Sylvie", "Kenji", "Marta", "Declan",
                                 "Ama",    "Tiago", "Petra",  "Lucia", "Soren", "Hollis"};
  Demographics d;
  d.mutable_name()->set_given(kGiven[n % 12]);
  d.mutable_name()->set_family(n < 12 ? std::string(kFamily[n % 12])
                                      : absl::StrCat(kFamily[n % 12], "-", kFamily[(n / 12) % 12]));
  d.set_birth_date(absl::StrCat(1931 + n % 70, "-0", 1 + n % 9, "-1", n % 10));
  d.set_sex(n % 2 == 0 ? hie::common::v1::SEX_FEMALE : hie::common::v1::SEX_MALE);
  auto* a = d.add_addresses();
  a->add_lines(absl::StrCat(100 + n, " Quarry Road"));
  a->set_city("Lakeside");
  a->set_postal_code(absl::StrCat(30100 + n));
  d.add_phones()->set_value(absl::StrCat("404-555-", 3000 + n));
  return d;
}

// Rows of a database dump: "table/n" -> the row as text, in a stable order per table.
using DatabaseDump = hie::testing::StateDump;
using hie::testing::DumpDifferences;

// A write to retry or race: the request, and another request under the same idempotency key.
template <typename Request>
struct Scenario {
  Request request;
  Request different;
};

template <typename Request, typename Response>
using Rpc = grpc::Status (v1::IdentityService::Stub::*)(grpc::ClientContext*, const Request&,
                                                        Response*);

class IdentityServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HIE_REQUIRE_ENV("HIE_TEST_PG_DSN");
    HIE_REQUIRE_ENV("HIE_TEST_REDIS");
    auto db = hie::testing::TestDatabase::Create();
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    redis_ = std::make_unique<hie::testing::RedisProcess>(hie::testing::FreeTcpPort());
    ASSERT_TRUE(redis_->Start().ok());
    replica_ = std::make_unique<Replica>(db_->dsn(), redis_->port());
    stub_ = replica_->Stub("operator");
  }

  template <typename Request>
  static Request WithContext(Request request, const std::string& key = "") {
    request.mutable_context()->set_purpose_of_use(hie::common::v1::PURPOSE_OF_USE_OPERATIONS);
    // Callers run on several threads: each request takes its own number exactly once, so no
    // two different requests share an idempotency key.
    const int n = counter_.fetch_add(1) + 1;
    request.mutable_context()->set_request_id("req-" + std::to_string(n));
    if constexpr (requires { request.set_idempotency_key(""); }) {
      request.set_idempotency_key(key.empty() ? "key-" + std::to_string(n) : key);
    }
    return request;
  }

  static std::unique_ptr<grpc::ClientContext> Ctx() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return ctx;
  }

  v1::RegisterSourceRecordResponse Register(const std::string& org, const std::string& local,
                                            const Demographics& d,
                                            v1::IdentityService::Stub* stub = nullptr) {
    v1::RegisterSourceRecordRequest request;
    request.mutable_source_id()->set_org(org);
    request.mutable_source_id()->set_local_id(local);
    *request.mutable_demographics() = d;
    v1::RegisterSourceRecordResponse response;
    grpc::Status status = (stub ? stub : stub_.get())
                              ->RegisterSourceRecord(Ctx().get(), WithContext(request), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  std::string PersonOf(const std::string& org, const std::string& local) {
    v1::ResolveRequest request;
    request.mutable_source_id()->set_org(org);
    request.mutable_source_id()->set_local_id(local);
    v1::ResolveResponse response;
    grpc::Status status = stub_->Resolve(Ctx().get(), WithContext(request), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.person_id();
  }

  // Every row of every table of the identity schema (sequences excepted): two dumps are equal
  // exactly when the database holds the same data.
  DatabaseDump DumpDatabase() {
    pqxx::connection conn(db_->dsn());
    pqxx::nontransaction txn(conn);
    DatabaseDump out;
    for (const char* table : {"records", "record_versions", "persons", "links", "events",
                              "event_subjects", "review_tasks", "not_a_matches", "idempotency"}) {
      pqxx::result rows =
          txn.exec(absl::StrCat("SELECT t::text FROM identity.", table, " t ORDER BY 1"));
      for (size_t i = 0; i < rows.size(); ++i) {
        out[absl::StrCat(table, "/", i)] = rows[i][0].c_str();
      }
    }
    return out;
  }

  int64_t LastSequence() {
    pqxx::connection conn(db_->dsn());
    return pqxx::nontransaction(conn)
        .exec1("SELECT coalesce(max(sequence), 0) FROM identity.events")[0]
        .as<int64_t>();
  }

  // The types of the events after `after`, as a multiset: what a write appended.
  std::multiset<int> EventTypesAfter(int64_t after) {
    pqxx::connection conn(db_->dsn());
    pqxx::result rows = pqxx::nontransaction(conn).exec(
        absl::StrCat("SELECT type FROM identity.events WHERE sequence > ", after));
    std::multiset<int> out;
    for (const auto& row : rows) out.insert(row[0].as<int>());
    return out;
  }

  static v1::RegisterSourceRecordRequest RegisterRequest(const std::string& org,
                                                         const std::string& local,
                                                         const Demographics& d,
                                                         const std::string& key = "") {
    v1::RegisterSourceRecordRequest request;
    request.mutable_source_id()->set_org(org);
    request.mutable_source_id()->set_local_id(local);
    *request.mutable_demographics() = d;
    return WithContext(request, key);
  }

  // Scenarios of the writes, each with patients of its own number range (3n .. 3n + 2) and
  // local ids tagged with n, so that scenarios of different n never touch each other.
  Scenario<v1::RegisterSourceRecordRequest> RegisterScenario(int n) {
    const std::string tag = absl::StrCat("n", n);
    Register("clinic-a", tag, Patient(3 * n));
    Scenario<v1::RegisterSourceRecordRequest> s;
    s.request = RegisterRequest("clinic-b", tag, Patient(3 * n));  // links to clinic-a's
    s.different = RegisterRequest("clinic-b", tag, Patient(3 * n + 1), s.request.idempotency_key());
    return s;
  }

  Scenario<v1::RegisterSourceRecordsRequest> RegisterBatchScenario(int n) {
    const std::string tag = absl::StrCat("n", n);
    Register("clinic-a", tag, Patient(3 * n));
    Scenario<v1::RegisterSourceRecordsRequest> s;
    s.request = WithContext(v1::RegisterSourceRecordsRequest());
    s.different = WithContext(v1::RegisterSourceRecordsRequest());
    *s.request.add_registrations() = RegisterRequest("clinic-b", tag, Patient(3 * n));
    *s.request.add_registrations() = RegisterRequest("clinic-c", tag, Patient(3 * n + 1));
    // The first entry reuses its key for another request; the second is the same entry again.
    *s.different.add_registrations() = RegisterRequest(
        "clinic-b", tag, Patient(3 * n + 2), s.request.registrations(0).idempotency_key());
    *s.different.add_registrations() = s.request.registrations(1);
    for (auto* batch : {&s.request, &s.different}) {
      for (auto& entry : *batch->mutable_registrations()) entry.clear_context();
    }
    return s;
  }

  Scenario<v1::MergeSourceRecordsRequest> MergeSourceRecordsScenario(int n) {
    const std::string tag = absl::StrCat("n", n);
    // Three records of one patient at one clinic: never linked automatically (one org).
    for (const char* local : {"-1", "-2", "-3"}) Register("clinic-a", tag + local, Patient(3 * n));
    Scenario<v1::MergeSourceRecordsRequest> s;
    s.request.mutable_survivor()->set_org("clinic-a");
    s.request.mutable_survivor()->set_local_id(tag + "-1");
    s.request.mutable_superseded()->set_org("clinic-a");
    s.request.mutable_superseded()->set_local_id(tag + "-2");
    s.request = WithContext(s.request);
    s.different = s.request;
    s.different.mutable_superseded()->set_local_id(tag + "-3");
    return s;
  }

  Scenario<v1::LinkRecordRequest> LinkScenario(int n) {
    const std::string tag = absl::StrCat("n", n);
    auto a = Register("clinic-a", tag, Patient(3 * n));
    Register("clinic-b", tag, Patient(3 * n + 1));
    Register("clinic-c", tag, Patient(3 * n + 2));
    Scenario<v1::LinkRecordRequest> s;
    s.request.mutable_source_id()->set_org("clinic-b");
    s.request.mutable_source_id()->set_local_id(tag);
    s.request.set_person_id(a.person_id());
    s.request.set_reason("same patient per phone call");
    s.request = WithContext(s.request);
    s.different = s.request;
    s.different.mutable_source_id()->set_org("clinic-c");
    return s;
  }

  Scenario<v1::UnlinkRecordRequest> UnlinkScenario(int n) {
    const std::string tag = absl::StrCat("n", n);
    for (const char* org : {"clinic-a", "clinic-b", "clinic-c"}) Register(org, tag, Patient(3 * n));
    Scenario<v1::UnlinkRecordRequest> s;
    s.request.mutable_source_id()->set_org("clinic-b");
    s.request.mutable_source_id()->set_local_id(tag);
    s.request.set_reason("a different patient per the clinic");
    s.request = WithContext(s.request);
    s.different = s.request;
    s.different.mutable_source_id()->set_org("clinic-c");
    return s;
  }

  Scenario<v1::MergePersonsRequest> MergePersonsScenario(int n) {
    const std::string tag = absl::StrCat("n", n);
    auto a = Register("clinic-a", tag, Patient(3 * n));
    auto b = Register("clinic-b", tag, Patient(3 * n + 1));
    auto c = Register("clinic-c", tag, Patient(3 * n + 2));
    Scenario<v1::MergePersonsRequest> s;
    s.request.set_survivor_person_id(a.person_id());
    s.request.set_merged_person_id(b.person_id());
    s.request.set_reason("operator judged same");
    s.request = WithContext(s.request);
    s.different = s.request;
    s.different.set_merged_person_id(c.person_id());
    return s;
  }

  Scenario<v1::UnmergePersonsRequest> UnmergePersonsScenario(int n) {
    v1::MergePersonsRequest merge = MergePersonsScenario(n).request;
    v1::MergePersonsResponse merged;
    grpc::Status status = stub_->MergePersons(Ctx().get(), merge, &merged);
    EXPECT_TRUE(status.ok()) << status.error_message();
    Scenario<v1::UnmergePersonsRequest> s;
    s.request.set_merge_event_id(merged.merge_event_id());
    s.request.set_reason("the merge was wrong");
    s.request = WithContext(s.request);
    s.different = s.request;
    s.different.set_reason("another reason");
    return s;
  }

  Scenario<v1::ResolveReviewTaskRequest> ResolveReviewTaskScenario(int n) {
    const std::string tag = absl::StrCat("n", n);
    // Two records of one patient at one clinic: a question for a human.
    Register("clinic-a", tag + "-1", Patient(3 * n));
    auto second = Register("clinic-a", tag + "-2", Patient(3 * n));
    EXPECT_EQ(second.decision().outcome(), v1::MATCH_OUTCOME_REVIEW);
    Scenario<v1::ResolveReviewTaskRequest> s;
    s.request.set_task_id(second.decision().review_task_id());
    s.request.set_resolution(v1::ResolveReviewTaskRequest::RESOLUTION_SAME);
    s.request.set_reason("confirmed by phone");
    s.request = WithContext(s.request);
    s.different = s.request;
    s.different.set_resolution(v1::ResolveReviewTaskRequest::RESOLUTION_DIFFERENT);
    return s;
  }

  // The scenario's write, then the same request again as a client's retry (another request id,
  // through another replica), then the different request under the same key: the retry answers
  // the first response byte for byte and changes no row; the different request is
  // ALREADY_EXISTS and changes no row.
  template <typename Request, typename Response>
  void ExpectRetriesAreSafe(Rpc<Request, Response> rpc, const Scenario<Request>& s) {
    Replica other_replica(db_->dsn(), redis_->port());
    auto other_stub = other_replica.Stub("operator");
    Response first;
    grpc::Status status = (stub_.get()->*rpc)(Ctx().get(), s.request, &first);
    ASSERT_TRUE(status.ok()) << status.error_message();
    const DatabaseDump after_first = DumpDatabase();
    for (v1::IdentityService::Stub* stub : {stub_.get(), other_stub.get()}) {
      Request retry = s.request;
      retry.mutable_context()->set_request_id("a-retry");
      Response again;
      status = (stub->*rpc)(Ctx().get(), retry, &again);
      ASSERT_TRUE(status.ok()) << status.error_message();
      EXPECT_EQ(again.SerializeAsString(), first.SerializeAsString())
          << "the retry must answer exactly the first response";
      EXPECT_EQ(DumpDifferences(after_first, DumpDatabase()), "")
          << "the retry changed the database";
    }
    ASSERT_EQ(s.different.idempotency_key(), s.request.idempotency_key());
    Response refused;
    status = (other_stub.get()->*rpc)(Ctx().get(), s.different, &refused);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS) << status.error_message();
    EXPECT_EQ(DumpDifferences(after_first, DumpDatabase()), "")
        << "a refused request changed the database";
  }

  // One call of the scenario's write alone, then, in rounds, two identical calls released
  // together by a latch (odd rounds: both on one replica; even rounds: one on each of two
  // replicas sharing the database): both answer OK with the same response, and they append the
  // same events as the one call did (one event set, one person created, ...).
  template <typename Request, typename Response, typename Setup>
  void ExpectTwinCallsWriteOnce(Rpc<Request, Response> rpc, Setup setup) {
    Replica second(db_->dsn(), redis_->port());
    const Request alone = setup(0).request;
    int64_t before = LastSequence();
    Response single;
    grpc::Status status = (stub_.get()->*rpc)(Ctx().get(), alone, &single);
    ASSERT_TRUE(status.ok()) << status.error_message();
    const std::multiset<int> once = EventTypesAfter(before);
    ASSERT_FALSE(once.empty()) << "the write appends events";
    constexpr int kRounds = 4;
    for (int round = 1; round <= kRounds; ++round) {
      const Request request = setup(round).request;
      Replica* replicas[2] = {replica_.get(), round % 2 == 1 ? replica_.get() : &second};
      std::unique_ptr<v1::IdentityService::Stub> stubs[2] = {replicas[0]->Stub("operator"),
                                                             replicas[1]->Stub("operator")};
      before = LastSequence();
      std::latch start(2);
      grpc::Status statuses[2];
      Response responses[2];
      std::vector<std::thread> threads;
      for (int i = 0; i < 2; ++i) {
        threads.emplace_back([&, i] {
          auto ctx = Ctx();
          start.arrive_and_wait();
          statuses[i] = (stubs[i].get()->*rpc)(ctx.get(), request, &responses[i]);
        });
      }
      for (std::thread& t : threads) t.join();
      for (int i = 0; i < 2; ++i) {
        ASSERT_TRUE(statuses[i].ok())
            << "round " << round << ", caller " << i << ": code " << statuses[i].error_code()
            << ", " << statuses[i].error_message();
      }
      EXPECT_EQ(responses[0].SerializeAsString(), responses[1].SerializeAsString())
          << "round " << round;
      EXPECT_EQ(EventTypesAfter(before), once)
          << "round " << round << ": two identical calls must write what one call writes";
    }
  }

  static inline std::atomic<int> counter_{0};
  std::unique_ptr<hie::testing::TestDatabase> db_;
  std::unique_ptr<hie::testing::RedisProcess> redis_;
  std::unique_ptr<Replica> replica_;
  std::unique_ptr<v1::IdentityService::Stub> stub_;
};

TEST_F(IdentityServiceTest, RegisterUpdateResolveAndSearchOverMutualTls) {
  auto a = Register("clinic-a", "A1", Alice());
  EXPECT_EQ(a.decision().outcome(), v1::MATCH_OUTCOME_NEW_PERSON);
  auto b = Register("clinic-b", "B7", Alice());
  EXPECT_EQ(b.decision().outcome(), v1::MATCH_OUTCOME_LINKED);
  EXPECT_EQ(b.person_id(), a.person_id());
  Demographics moved = Alice();
  moved.mutable_addresses(0)->set_city("Peoria");
  auto update = Register("clinic-a", "A1", moved);
  EXPECT_EQ(update.record().version(), 2);
  EXPECT_EQ(update.person_id(), a.person_id());

  v1::ResolveRequest resolve;
  resolve.mutable_source_id()->set_org("clinic-b");
  resolve.mutable_source_id()->set_local_id("B7");
  v1::ResolveResponse resolved;
  ASSERT_TRUE(stub_->Resolve(Ctx().get(), WithContext(resolve), &resolved).ok());
  EXPECT_EQ(resolved.cross_references_size(), 2);

  v1::SearchPersonsRequest search;
  *search.mutable_query() = Alice();
  v1::SearchPersonsResponse found;
  ASSERT_TRUE(stub_->SearchPersons(Ctx().get(), WithContext(search), &found).ok());
  ASSERT_GE(found.matches_size(), 1);
  EXPECT_EQ(found.matches(0).candidate().person_id(), a.person_id());
  EXPECT_GT(found.matches(0).candidate().explanation().fields_size(), 3);
}

TEST_F(IdentityServiceTest, BadInputIsInvalidArgumentNamingTheField) {
  v1::RegisterSourceRecordRequest request;
  request.mutable_source_id()->set_org("clinic-a");
  *request.mutable_demographics() = Alice();
  v1::RegisterSourceRecordResponse response;
  grpc::Status status = stub_->RegisterSourceRecord(Ctx().get(), WithContext(request), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("source_id.local_id"), std::string::npos);
}

TEST_F(IdentityServiceTest, RolesAreEnforcedFromTheCertificate) {
  auto member = replica_->Stub("clinic-a");
  v1::RegisterSourceRecordRequest request;
  request.mutable_source_id()->set_org("clinic-a");
  request.mutable_source_id()->set_local_id("1");
  v1::RegisterSourceRecordResponse response;
  EXPECT_EQ(member->RegisterSourceRecord(Ctx().get(), WithContext(request), &response).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  auto auditor = replica_->Stub("auditor");
  EXPECT_EQ(auditor->RegisterSourceRecord(Ctx().get(), WithContext(request), &response).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::ListReviewTasksRequest list;
  v1::ListReviewTasksResponse tasks;
  EXPECT_TRUE(auditor->ListReviewTasks(Ctx().get(), WithContext(list), &tasks).ok())
      << "auditors may read";
}

TEST_F(IdentityServiceTest, OperatorOperationsAndTheirUndo) {
  auto a = Register("clinic-a", "1", Alice());
  auto b = Register("clinic-b", "2", Bob());
  ASSERT_NE(a.person_id(), b.person_id());

  v1::MergePersonsRequest merge;
  merge.set_survivor_person_id(a.person_id());
  merge.set_merged_person_id(b.person_id());
  merge.set_reason("operator decision");
  v1::MergePersonsResponse merged;
  ASSERT_TRUE(stub_->MergePersons(Ctx().get(), WithContext(merge), &merged).ok());
  EXPECT_EQ(PersonOf("clinic-b", "2"), a.person_id()) << "the cached answer was invalidated";

  v1::UnmergePersonsRequest unmerge;
  unmerge.set_merge_event_id(merged.merge_event_id());
  unmerge.set_reason("wrong merge");
  v1::UnmergePersonsResponse unmerged;
  ASSERT_TRUE(stub_->UnmergePersons(Ctx().get(), WithContext(unmerge), &unmerged).ok());
  EXPECT_EQ(PersonOf("clinic-b", "2"), b.person_id());

  v1::LinkRecordRequest link;
  link.mutable_source_id()->set_org("clinic-b");
  link.mutable_source_id()->set_local_id("2");
  link.set_person_id(a.person_id());
  link.set_reason("confirmed");
  v1::LinkRecordResponse linked;
  ASSERT_TRUE(stub_->LinkRecord(Ctx().get(), WithContext(link), &linked).ok());
  EXPECT_EQ(PersonOf("clinic-b", "2"), a.person_id());

  v1::UnlinkRecordRequest unlink;
  *unlink.mutable_source_id() = link.source_id();
  unlink.set_reason("mistake");
  v1::UnlinkRecordResponse unlinked;
  ASSERT_TRUE(stub_->UnlinkRecord(Ctx().get(), WithContext(unlink), &unlinked).ok());
  EXPECT_EQ(PersonOf("clinic-b", "2"), unlinked.new_person().person_id());

  v1::GetHistoryRequest history;
  history.set_person_id(a.person_id());
  v1::GetHistoryResponse events;
  ASSERT_TRUE(stub_->GetHistory(Ctx().get(), WithContext(history), &events).ok());
  std::set<int> types;
  for (const auto& e : events.events()) {
    types.insert(e.type());
    if (e.type() == v1::IDENTITY_EVENT_TYPE_PERSONS_MERGED) {
      EXPECT_EQ(e.actor().org(), "hie-operations") << "actor from the certificate";
      EXPECT_EQ(e.reason(), "operator decision");
    }
  }
  for (int t : {v1::IDENTITY_EVENT_TYPE_PERSONS_MERGED, v1::IDENTITY_EVENT_TYPE_PERSONS_UNMERGED,
                v1::IDENTITY_EVENT_TYPE_RECORD_LINKED, v1::IDENTITY_EVENT_TYPE_RECORD_UNLINKED}) {
    EXPECT_EQ(types.count(t), 1u) << "missing event type " << t;
  }
}

TEST_F(IdentityServiceTest, RetriedWriteIsAppliedOnce) {
  v1::RegisterSourceRecordRequest request;
  request.mutable_source_id()->set_org("clinic-a");
  request.mutable_source_id()->set_local_id("R1");
  *request.mutable_demographics() = Alice();
  request = WithContext(request, "retry-key");
  v1::RegisterSourceRecordResponse first, second;
  ASSERT_TRUE(stub_->RegisterSourceRecord(Ctx().get(), request, &first).ok());
  request.mutable_context()->set_request_id("another-request-id");  // a client retry
  ASSERT_TRUE(stub_->RegisterSourceRecord(Ctx().get(), request, &second).ok());
  EXPECT_EQ(second.record().version(), 1);
  EXPECT_EQ(second.person_id(), first.person_id());
}

TEST_F(IdentityServiceTest, ConcurrentRegistrationsOfOneNewPatientCreateOnePerson) {
  constexpr int kClinics = 6;
  std::vector<std::string> persons(kClinics);
  std::vector<std::thread> threads;
  std::vector<std::unique_ptr<v1::IdentityService::Stub>> stubs;
  for (int i = 0; i < kClinics; ++i) stubs.push_back(replica_->Stub("operator"));
  std::latch start(kClinics);
  for (int i = 0; i < kClinics; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();  // all registrations race
      persons[i] = Register("clinic-" + std::to_string(i), "X", Bob(), stubs[i].get()).person_id();
    });
  }
  for (auto& t : threads) t.join();
  // Fails when every call fails (each would leave an empty person id).
  for (int i = 0; i < kClinics; ++i) ASSERT_FALSE(persons[i].empty()) << "clinic " << i;
  for (int i = 1; i < kClinics; ++i) EXPECT_EQ(persons[i], persons[0]) << "clinic " << i;
}

TEST_F(IdentityServiceTest, TwoReplicasRegisteringOneNewPatientCreateOnePerson) {
  Replica second(db_->dsn(), redis_->port());
  constexpr int kRounds = 5;
  constexpr int kCallers = 6;
  for (int round = 0; round < kRounds; ++round) {
    Demographics patient = Bob();
    patient.set_birth_date(std::to_string(1940 + 7 * round) + "-05-17");
    patient.mutable_phones(0)->set_value("937-555-" + std::to_string(2000 + round));
    std::vector<std::unique_ptr<v1::IdentityService::Stub>> stubs;
    for (int i = 0; i < kCallers; ++i) {
      stubs.push_back(i % 2 == 0 ? replica_->Stub("operator") : second.Stub("operator"));
    }
    std::vector<std::string> persons(kCallers);
    std::vector<std::thread> threads;
    std::latch start(kCallers);
    for (int i = 0; i < kCallers; ++i) {
      threads.emplace_back([&, i] {
        start.arrive_and_wait();  // all registrations race
        persons[i] = Register("clinic-" + std::to_string(i), "R" + std::to_string(round), patient,
                              stubs[i].get())
                         .person_id();
      });
    }
    for (auto& t : threads) t.join();
    for (int i = 0; i < kCallers; ++i) {
      ASSERT_FALSE(persons[i].empty()) << "round " << round << ", caller " << i << " failed";
    }
    for (int i = 1; i < kCallers; ++i) {
      EXPECT_EQ(persons[i], persons[0]) << "round " << round << ", caller " << i;
    }
  }
}

TEST_F(IdentityServiceTest, BatchesOnTwoReplicasRegisteringOneNewPatientCreateOnePerson) {
  Replica second(db_->dsn(), redis_->port());
  constexpr int kCallers = 4;
  constexpr int kEntries = 25;
  std::vector<std::unique_ptr<v1::IdentityService::Stub>> stubs;
  for (int i = 0; i < kCallers; ++i) {
    stubs.push_back(i % 2 == 0 ? replica_->Stub("operator") : second.Stub("operator"));
  }
  // Each clinic sends one batch: the shared new patient, then patients of its own.
  std::vector<v1::RegisterSourceRecordsResponse> responses(kCallers);
  std::vector<grpc::Status> statuses(kCallers);
  std::vector<std::thread> threads;
  std::latch start(kCallers);
  for (int c = 0; c < kCallers; ++c) {
    threads.emplace_back([&, c] {
      v1::RegisterSourceRecordsRequest batch;
      for (int e = 0; e < kEntries; ++e) {
        v1::RegisterSourceRecordRequest* entry = batch.add_registrations();
        entry->mutable_source_id()->set_org("clinic-" + std::to_string(c));
        entry->mutable_source_id()->set_local_id("M" + std::to_string(e));
        *entry->mutable_demographics() = Bob();
        if (e > 0) {
          Demographics& d = *entry->mutable_demographics();
          d.mutable_name()->set_given(std::string(1, static_cast<char>('A' + e)) + "lma");
          d.mutable_name()->set_family("Own" + std::to_string(c * 100 + e));
          d.set_birth_date(std::to_string(1930 + e) + "-0" + std::to_string(1 + c) + "-11");
          d.mutable_phones(0)->set_value("555-01" + std::to_string(c * 100 + e));
        }
        *entry = WithContext(*entry);
      }
      batch = WithContext(batch);
      start.arrive_and_wait();  // all batches race
      statuses[c] = stubs[c]->RegisterSourceRecords(Ctx().get(), batch, &responses[c]);
    });
  }
  for (auto& t : threads) t.join();
  for (int c = 0; c < kCallers; ++c) {
    ASSERT_TRUE(statuses[c].ok()) << statuses[c].error_message();
    ASSERT_EQ(responses[c].results_size(), kEntries);
    for (const auto& result : responses[c].results()) {
      EXPECT_EQ(result.code(), 0) << result.message();
    }
    EXPECT_EQ(responses[c].results(0).response().person_id(),
              responses[0].results(0).response().person_id())
        << "caller " << c;
    EXPECT_EQ(PersonOf("clinic-" + std::to_string(c), "M0"),
              responses[0].results(0).response().person_id());
  }
}

TEST_F(IdentityServiceTest, BatchEntryErrorsNameTheEntryAndTheField) {
  v1::RegisterSourceRecordsRequest batch;
  v1::RegisterSourceRecordRequest* good = batch.add_registrations();
  good->mutable_source_id()->set_org("clinic-a");
  good->mutable_source_id()->set_local_id("1");
  *good->mutable_demographics() = Alice();
  *good = WithContext(*good);
  v1::RegisterSourceRecordRequest* bad = batch.add_registrations();
  *bad = *good;
  bad->mutable_source_id()->set_local_id("2");
  bad->mutable_demographics()->set_birth_date("1984-02-30");
  bad->set_idempotency_key("another-key");
  v1::RegisterSourceRecordRequest* update = batch.add_registrations();  // the first's record
  *update = *good;
  update->mutable_demographics()->mutable_addresses(0)->set_city("Shelbyville");
  update->set_idempotency_key("update-key");
  v1::RegisterSourceRecordsResponse response;
  grpc::Status status = stub_->RegisterSourceRecords(Ctx().get(), WithContext(batch), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.results_size(), 3);
  EXPECT_EQ(response.results(2).code(), 0) << response.results(2).message();
  EXPECT_FALSE(response.results(2).response().created());
  EXPECT_EQ(response.results(2).response().record().version(), 2);
  EXPECT_EQ(response.results(0).code(), 0) << response.results(0).message();
  EXPECT_EQ(response.results(1).code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(response.results(1).message().find("registrations[1]: demographics.birth_date"),
            std::string::npos)
      << response.results(1).message();
  EXPECT_EQ(response.results(1).message().find("Vandermeer"), std::string::npos);
  EXPECT_EQ(PersonOf("clinic-a", "1"), response.results(0).response().person_id());

  v1::RegisterSourceRecordsRequest empty;
  status = stub_->RegisterSourceRecords(Ctx().get(), WithContext(empty), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(IdentityServiceTest, SearchOnAnotherReplicaSeesRecordsAfterSync) {
  Replica second(db_->dsn(), redis_->port());
  auto a = Register("clinic-a", "1", Alice());  // through the first replica
  ASSERT_TRUE(second.manager().SyncIndex(absl::Now() + absl::Seconds(10)).ok());
  v1::SearchPersonsRequest search;
  *search.mutable_query() = Alice();
  v1::SearchPersonsResponse found;
  ASSERT_TRUE(second.Stub("operator")->SearchPersons(Ctx().get(), WithContext(search), &found).ok());
  ASSERT_EQ(found.matches_size(), 1);
  EXPECT_EQ(found.matches(0).candidate().person_id(), a.person_id());
}

TEST_F(IdentityServiceTest, WatchEventsStreamsTheHistoryInOrderAndResumes) {
  auto a = Register("clinic-a", "1", Alice());
  v1::WatchEventsRequest watch = WithContext(v1::WatchEventsRequest());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto reader = stub_->WatchEvents(&ctx, watch);
  std::vector<v1::IdentityEvent> seen;
  v1::IdentityEvent event;
  // The history so far, then a registration made while the stream is open.
  while (seen.size() < 3 && reader->Read(&event)) seen.push_back(event);
  Register("clinic-b", "2", Bob());
  while (reader->Read(&event)) {
    seen.push_back(event);
    if (event.type() == v1::IDENTITY_EVENT_TYPE_RECORD_LINKED &&
        event.source_ids(0).local_id() == "2") {
      break;
    }
  }
  ctx.TryCancel();
  ASSERT_GE(seen.size(), 4u);
  for (size_t i = 1; i < seen.size(); ++i) {
    EXPECT_GT(seen[i].sequence(), seen[i - 1].sequence()) << "strictly increasing";
  }
  EXPECT_EQ(seen[0].type(), v1::IDENTITY_EVENT_TYPE_RECORD_CREATED);
  EXPECT_FALSE(seen.back().to_person_id().empty());
  for (const auto& e : seen) {
    EXPECT_TRUE(e.has_event_time()) << "every event has a time";
  }

  // Resuming after the first event sends the rest, starting right after it.
  v1::WatchEventsRequest resume = WithContext(v1::WatchEventsRequest());
  resume.set_after_sequence(seen[0].sequence());
  resume.add_types(v1::IDENTITY_EVENT_TYPE_RECORD_CREATED);
  grpc::ClientContext ctx2;
  ctx2.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto resumed = stub_->WatchEvents(&ctx2, resume);
  ASSERT_TRUE(resumed->Read(&event));
  EXPECT_EQ(event.type(), v1::IDENTITY_EVENT_TYPE_RECORD_CREATED);
  EXPECT_EQ(event.source_ids(0).local_id(), "2") << "only later RECORD_CREATED events";
  ctx2.TryCancel();

  v1::WatchEventsRequest beyond = WithContext(v1::WatchEventsRequest());
  beyond.set_after_sequence(1'000'000);
  grpc::ClientContext ctx3;
  auto refused = stub_->WatchEvents(&ctx3, beyond);
  EXPECT_FALSE(refused->Read(&event));
  EXPECT_EQ(refused->Finish().error_code(), grpc::StatusCode::OUT_OF_RANGE);
}

TEST_F(IdentityServiceTest, RestartRebuildsTheIndexAndGivesTheSameAnswers) {
  auto a = Register("clinic-a", "1", Alice());
  Register("clinic-b", "2", Bob());
  replica_.reset();  // stop
  replica_ = std::make_unique<Replica>(db_->dsn(), redis_->port());
  stub_ = replica_->Stub("operator");
  EXPECT_EQ(replica_->indexed(), 2u);
  EXPECT_EQ(PersonOf("clinic-a", "1"), a.person_id());
  auto again = Register("clinic-c", "3", Alice());
  EXPECT_EQ(again.decision().outcome(), v1::MATCH_OUTCOME_LINKED);
  EXPECT_EQ(again.person_id(), a.person_id());
}

TEST_F(IdentityServiceTest, WorksWithRedisDown) {
  auto a = Register("clinic-a", "1", Alice());
  EXPECT_EQ(PersonOf("clinic-a", "1"), a.person_id());  // fills the cache
  redis_->Stop();
  auto b = Register("clinic-b", "2", Bob());
  EXPECT_EQ(PersonOf("clinic-a", "1"), a.person_id());
  EXPECT_EQ(PersonOf("clinic-b", "2"), b.person_id());
  v1::MergePersonsRequest merge;
  merge.set_survivor_person_id(a.person_id());
  merge.set_merged_person_id(b.person_id());
  merge.set_reason("same");
  v1::MergePersonsResponse merged;
  ASSERT_TRUE(stub_->MergePersons(Ctx().get(), WithContext(merge), &merged).ok());
  EXPECT_EQ(PersonOf("clinic-b", "2"), a.person_id());
}

// ---------------------------------------------------------------------------------------------
// Retries and races of every write, over gRPC with PostgreSQL (the issue on hardening identity)

TEST_F(IdentityServiceTest, RegisterSourceRecordRetriedAnswersTheFirstResponseAndChangesNothing) {
  ExpectRetriesAreSafe(&v1::IdentityService::Stub::RegisterSourceRecord, RegisterScenario(0));
}

TEST_F(IdentityServiceTest, MergeSourceRecordsRetriedAnswersTheFirstResponseAndChangesNothing) {
  ExpectRetriesAreSafe(&v1::IdentityService::Stub::MergeSourceRecords,
                       MergeSourceRecordsScenario(0));
}

TEST_F(IdentityServiceTest, LinkRecordRetriedAnswersTheFirstResponseAndChangesNothing) {
  ExpectRetriesAreSafe(&v1::IdentityService::Stub::LinkRecord, LinkScenario(0));
}

TEST_F(IdentityServiceTest, UnlinkRecordRetriedAnswersTheFirstResponseAndChangesNothing) {
  ExpectRetriesAreSafe(&v1::IdentityService::Stub::UnlinkRecord, UnlinkScenario(0));
}

TEST_F(IdentityServiceTest, MergePersonsRetriedAnswersTheFirstResponseAndChangesNothing) {
  ExpectRetriesAreSafe(&v1::IdentityService::Stub::MergePersons, MergePersonsScenario(0));
}

TEST_F(IdentityServiceTest, UnmergePersonsRetriedAnswersTheFirstResponseAndChangesNothing) {
  ExpectRetriesAreSafe(&v1::IdentityService::Stub::UnmergePersons, UnmergePersonsScenario(0));
}

TEST_F(IdentityServiceTest, ResolveReviewTaskRetriedAnswersTheFirstResponseAndChangesNothing) {
  ExpectRetriesAreSafe(&v1::IdentityService::Stub::ResolveReviewTask, ResolveReviewTaskScenario(0));
}

// RegisterSourceRecords has no key of its own: its entries' keys make it retry-safe.
TEST_F(IdentityServiceTest, RegisterSourceRecordsRetriedAnswersTheFirstResponseAndChangesNothing) {
  Scenario<v1::RegisterSourceRecordsRequest> s = RegisterBatchScenario(0);
  v1::RegisterSourceRecordsResponse first;
  grpc::Status status = stub_->RegisterSourceRecords(Ctx().get(), s.request, &first);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(first.results_size(), 2);
  for (const auto& result : first.results()) ASSERT_EQ(result.code(), 0) << result.message();
  ASSERT_EQ(first.results(0).response().decision().outcome(), v1::MATCH_OUTCOME_LINKED);
  const DatabaseDump after_first = DumpDatabase();
  Replica other_replica(db_->dsn(), redis_->port());
  v1::RegisterSourceRecordsRequest retry = s.request;
  retry.mutable_context()->set_request_id("a-retry");
  v1::RegisterSourceRecordsResponse again;
  status = other_replica.Stub("operator")->RegisterSourceRecords(Ctx().get(), retry, &again);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(again.SerializeAsString(), first.SerializeAsString());
  EXPECT_EQ(DumpDifferences(after_first, DumpDatabase()), "") << "the retry changed the database";

  v1::RegisterSourceRecordsResponse other;
  status = stub_->RegisterSourceRecords(Ctx().get(), s.different, &other);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(other.results_size(), 2);
  EXPECT_EQ(other.results(0).code(), grpc::StatusCode::ALREADY_EXISTS)
      << other.results(0).message();
  EXPECT_EQ(other.results(1).SerializeAsString(), first.results(1).SerializeAsString())
      << "the entry sent again answers its first response";
  EXPECT_EQ(DumpDifferences(after_first, DumpDatabase()), "")
      << "a refused entry changed the database";
}

TEST_F(IdentityServiceTest, TwoIdenticalRegisterSourceRecordCallsWriteOnce) {
  ExpectTwinCallsWriteOnce(&v1::IdentityService::Stub::RegisterSourceRecord,
                           [&](int n) { return RegisterScenario(n); });
}

TEST_F(IdentityServiceTest, TwoIdenticalRegisterSourceRecordsCallsWriteOnce) {
  ExpectTwinCallsWriteOnce(&v1::IdentityService::Stub::RegisterSourceRecords,
                           [&](int n) { return RegisterBatchScenario(n); });
}

TEST_F(IdentityServiceTest, TwoIdenticalMergeSourceRecordsCallsWriteOnce) {
  ExpectTwinCallsWriteOnce(&v1::IdentityService::Stub::MergeSourceRecords,
                           [&](int n) { return MergeSourceRecordsScenario(n); });
}

TEST_F(IdentityServiceTest, TwoIdenticalLinkRecordCallsWriteOnce) {
  ExpectTwinCallsWriteOnce(&v1::IdentityService::Stub::LinkRecord,
                           [&](int n) { return LinkScenario(n); });
}

TEST_F(IdentityServiceTest, TwoIdenticalUnlinkRecordCallsWriteOnce) {
  ExpectTwinCallsWriteOnce(&v1::IdentityService::Stub::UnlinkRecord,
                           [&](int n) { return UnlinkScenario(n); });
}

TEST_F(IdentityServiceTest, TwoIdenticalMergePersonsCallsWriteOnce) {
  ExpectTwinCallsWriteOnce(&v1::IdentityService::Stub::MergePersons,
                           [&](int n) { return MergePersonsScenario(n); });
}

TEST_F(IdentityServiceTest, TwoIdenticalUnmergePersonsCallsWriteOnce) {
  ExpectTwinCallsWriteOnce(&v1::IdentityService::Stub::UnmergePersons,
                           [&](int n) { return UnmergePersonsScenario(n); });
}

TEST_F(IdentityServiceTest, TwoIdenticalResolveReviewTaskCallsWriteOnce) {
  ExpectTwinCallsWriteOnce(&v1::IdentityService::Stub::ResolveReviewTask,
                           [&](int n) { return ResolveReviewTaskScenario(n); });
}

// ---------------------------------------------------------------------------------------------
// History as of past times across a merge and its undo

std::set<std::string> Members(const v1::Person& person) {
  std::set<std::string> out;
  for (const v1::Link& link : person.links()) {
    out.insert(link.source_id().org() + "/" + link.source_id().local_id());
  }
  return out;
}

TEST_F(IdentityServiceTest, HistoryAsOfShowsPersonsAndRecordsAsTheyWereAcrossAMergeAndItsUndo) {
  auto a = Register("clinic-a", "A1", Alice());
  ASSERT_EQ(Register("clinic-c", "C3", Alice()).person_id(), a.person_id());
  auto b = Register("clinic-b", "B2", Bob());
  ASSERT_NE(b.person_id(), a.person_id());
  const std::string pa = a.person_id();
  const std::string pb = b.person_id();
  // Times strictly between the writes (event times are the service's clock, this machine's).
  auto between = [] {
    absl::SleepFor(absl::Milliseconds(30));
    const absl::Time t = absl::Now();
    absl::SleepFor(absl::Milliseconds(30));
    return t;
  };
  const absl::Time before_merge = between();
  v1::MergePersonsRequest merge;
  merge.set_survivor_person_id(pa);
  merge.set_merged_person_id(pb);
  merge.set_reason("operator judged same");
  v1::MergePersonsResponse merged;
  ASSERT_TRUE(stub_->MergePersons(Ctx().get(), WithContext(merge), &merged).ok());
  const absl::Time while_merged = between();
  v1::UnmergePersonsRequest unmerge;
  unmerge.set_merge_event_id(merged.merge_event_id());
  unmerge.set_reason("the merge was wrong");
  v1::UnmergePersonsResponse unmerged;
  ASSERT_TRUE(stub_->UnmergePersons(Ctx().get(), WithContext(unmerge), &unmerged).ok());
  const absl::Time after_unmerge = between();

  auto history = [&](v1::GetHistoryRequest request, std::optional<absl::Time> as_of) {
    if (as_of.has_value()) {
      *request.mutable_as_of() =
          google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(*as_of));
    }
    v1::GetHistoryResponse response;
    grpc::Status status = stub_->GetHistory(Ctx().get(), WithContext(request), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  };
  auto of_person = [&](const std::string& id, std::optional<absl::Time> as_of) {
    v1::GetHistoryRequest request;
    request.set_person_id(id);
    return history(request, as_of);
  };
  auto of_record = [&](const std::string& org, const std::string& local,
                       std::optional<absl::Time> as_of) {
    v1::GetHistoryRequest request;
    request.mutable_source_id()->set_org(org);
    request.mutable_source_id()->set_local_id(local);
    return history(request, as_of);
  };
  auto types = [](const v1::GetHistoryResponse& r) {
    std::multiset<int> out;
    for (const auto& e : r.events()) out.insert(e.type());
    return out;
  };
  struct Then {
    const char* what;
    std::optional<absl::Time> as_of;
    v1::PersonState pb_state;
    std::set<std::string> pa_members, pb_members;
    std::string b2_person;
    size_t merges, unmerges;  // PERSONS_MERGED / PERSONS_UNMERGED events in PB's history
  };
  const std::set<std::string> alice = {"clinic-a/A1", "clinic-c/C3"};
  const std::set<std::string> bob = {"clinic-b/B2"};
  const std::set<std::string> all = {"clinic-a/A1", "clinic-b/B2", "clinic-c/C3"};
  const Then thens[] = {
      {"before the merge", before_merge, v1::PERSON_STATE_ACTIVE, alice, bob, pb, 0, 0},
      {"while merged", while_merged, v1::PERSON_STATE_MERGED, all, {}, pa, 1, 0},
      {"after the unmerge", after_unmerge, v1::PERSON_STATE_ACTIVE, alice, bob, pb, 1, 1},
      {"now", std::nullopt, v1::PERSON_STATE_ACTIVE, alice, bob, pb, 1, 1},
  };
  for (const Then& then : thens) {
    SCOPED_TRACE(then.what);
    const v1::GetHistoryResponse pa_then = of_person(pa, then.as_of);
    EXPECT_EQ(pa_then.state().person().person_id(), pa);
    EXPECT_EQ(pa_then.state().person().state(), v1::PERSON_STATE_ACTIVE);
    EXPECT_EQ(Members(pa_then.state().person()), then.pa_members);
    const v1::GetHistoryResponse pb_then = of_person(pb, then.as_of);
    EXPECT_EQ(pb_then.state().person().state(), then.pb_state);
    EXPECT_EQ(Members(pb_then.state().person()), then.pb_members);
    EXPECT_EQ(types(pb_then).count(v1::IDENTITY_EVENT_TYPE_PERSONS_MERGED), then.merges);
    EXPECT_EQ(types(pb_then).count(v1::IDENTITY_EVENT_TYPE_PERSONS_UNMERGED), then.unmerges);
    for (const auto& e : pb_then.events()) {
      if (then.as_of.has_value()) {
        EXPECT_LE(google::protobuf::util::TimeUtil::TimestampToNanoseconds(e.event_time()),
                  absl::ToUnixNanos(*then.as_of))
            << "an event after as_of";
      }
    }
    const v1::GetHistoryResponse b2_then = of_record("clinic-b", "B2", then.as_of);
    EXPECT_EQ(b2_then.state().record().person_id(), then.b2_person);
    EXPECT_EQ(b2_then.state().record().demographics().name().family(), "Okonkwo");
    const v1::GetHistoryResponse a1_then = of_record("clinic-a", "A1", then.as_of);
    EXPECT_EQ(a1_then.state().record().person_id(), pa);
  }
}

// ---------------------------------------------------------------------------------------------
// Who may call, with the certificates of scripts/gen-certs.sh (the outside review of 2026-12-04)

TEST_F(IdentityServiceTest, ALocatorNamingAClinicActorIsRefusedAndChangesNothing) {
  Register("clinic-a", "1", Alice());
  auto locator = replica_->Stub("locator-client");  // a hub service that may not delegate
  const DatabaseDump before = DumpDatabase();
  v1::RegisterSourceRecordRequest forged = RegisterRequest("clinic-b", "9", Bob());
  forged.mutable_context()->mutable_actor()->set_org("clinic-b");
  forged.mutable_context()->mutable_actor()->set_role(hie::common::v1::ROLE_MEMBER_SYSTEM);
  v1::RegisterSourceRecordResponse response;
  grpc::Status status = locator->RegisterSourceRecord(Ctx().get(), forged, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  v1::ResolveRequest resolve = WithContext(v1::ResolveRequest());
  resolve.mutable_source_id()->set_org("clinic-a");
  resolve.mutable_source_id()->set_local_id("1");
  *resolve.mutable_context()->mutable_actor() = forged.context().actor();
  v1::ResolveResponse resolved;
  status = locator->Resolve(Ctx().get(), resolve, &resolved);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  EXPECT_EQ(DumpDifferences(before, DumpDatabase()), "") << "a refused call changed the database";
}

TEST_F(IdentityServiceTest, ALocatorActingAsItselfMayResolveAndWatchButNotWrite) {
  auto a = Register("clinic-a", "1", Alice());
  auto b = Register("clinic-b", "2", Bob());
  auto locator = replica_->Stub("locator-client");
  v1::ResolveRequest resolve = WithContext(v1::ResolveRequest());
  resolve.mutable_source_id()->set_org("clinic-a");
  resolve.mutable_source_id()->set_local_id("1");
  v1::ResolveResponse resolved;
  grpc::Status status = locator->Resolve(Ctx().get(), resolve, &resolved);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(resolved.person_id(), a.person_id());

  grpc::ClientContext watch_ctx;
  watch_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto reader = locator->WatchEvents(&watch_ctx, WithContext(v1::WatchEventsRequest()));
  v1::IdentityEvent event;
  ASSERT_TRUE(reader->Read(&event)) << reader->Finish().error_message();
  EXPECT_EQ(event.type(), v1::IDENTITY_EVENT_TYPE_RECORD_CREATED);
  watch_ctx.TryCancel();

  const DatabaseDump before = DumpDatabase();
  v1::RegisterSourceRecordResponse registered;
  status = locator->RegisterSourceRecord(Ctx().get(), RegisterRequest("clinic-c", "3", Alice()),
                                         &registered);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  v1::MergePersonsRequest merge;
  merge.set_survivor_person_id(a.person_id());
  merge.set_merged_person_id(b.person_id());
  merge.set_reason("same");
  v1::MergePersonsResponse merged;
  status = locator->MergePersons(Ctx().get(), WithContext(merge), &merged);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  EXPECT_EQ(DumpDifferences(before, DumpDatabase()), "") << "a refused write changed the database";
}

TEST_F(IdentityServiceTest, TheGatewayActingForAClinicWritesOnlyThatClinicsRecords) {
  auto gateway = replica_->Stub("gateway-client");  // CN gateway: the delegating service
  hie::common::v1::Actor clinician;
  clinician.set_org("clinic-a");
  clinician.set_user_id("dr-hollis");
  clinician.set_role(hie::common::v1::ROLE_CLINICIAN);
  v1::RegisterSourceRecordRequest own = RegisterRequest("clinic-a", "G1", Alice());
  *own.mutable_context()->mutable_actor() = clinician;
  v1::RegisterSourceRecordResponse registered;
  grpc::Status status = gateway->RegisterSourceRecord(Ctx().get(), own, &registered);
  ASSERT_TRUE(status.ok()) << status.error_message();
  v1::GetHistoryRequest history;
  history.mutable_source_id()->set_org("clinic-a");
  history.mutable_source_id()->set_local_id("G1");
  v1::GetHistoryResponse events;
  ASSERT_TRUE(stub_->GetHistory(Ctx().get(), WithContext(history), &events).ok());
  ASSERT_GT(events.events_size(), 0);
  EXPECT_EQ(events.events(0).actor().SerializeAsString(), clinician.SerializeAsString())
      << "the history names the user the gateway acted for";

  const DatabaseDump before = DumpDatabase();
  v1::RegisterSourceRecordRequest other = RegisterRequest("clinic-b", "G2", Bob());
  *other.mutable_context()->mutable_actor() = clinician;
  status = gateway->RegisterSourceRecord(Ctx().get(), other, &registered);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  EXPECT_NE(status.error_message().find("source_id.org"), std::string::npos)
      << status.error_message();
  v1::MergePersonsRequest merge;
  merge.set_survivor_person_id(registered.person_id());
  merge.set_merged_person_id("P99999999");
  merge.set_reason("same");
  merge = WithContext(merge);
  *merge.mutable_context()->mutable_actor() = clinician;
  v1::MergePersonsResponse merged;
  status = gateway->MergePersons(Ctx().get(), merge, &merged);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << "a clinician does no operator work: " << status.error_message();
  v1::RegisterSourceRecordRequest anonymous = RegisterRequest("clinic-a", "G3", Bob());
  status = gateway->RegisterSourceRecord(Ctx().get(), anonymous, &registered);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << "the gateway must say whom it acts for: " << status.error_message();
  EXPECT_EQ(DumpDifferences(before, DumpDatabase()), "") << "a refused call changed the database";
}

TEST_F(IdentityServiceTest, AnOperatorMayNotNameAnotherUserAndIsRecordedAsItsCertificate) {
  auto a = Register("clinic-a", "1", Alice());
  auto b = Register("clinic-b", "2", Bob());
  v1::MergePersonsRequest merge;
  merge.set_survivor_person_id(a.person_id());
  merge.set_merged_person_id(b.person_id());
  merge.set_reason("operator judged same");
  v1::MergePersonsRequest impersonating = WithContext(merge);
  impersonating.mutable_context()->mutable_actor()->set_user_id("another-operator");
  const DatabaseDump before = DumpDatabase();
  v1::MergePersonsResponse merged;
  grpc::Status status = stub_->MergePersons(Ctx().get(), impersonating, &merged);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  EXPECT_EQ(DumpDifferences(before, DumpDatabase()), "") << "a refused merge changed the database";

  v1::MergePersonsRequest as_itself = WithContext(merge);
  as_itself.mutable_context()->mutable_actor()->set_user_id("operator");  // the certificate's CN
  status = stub_->MergePersons(Ctx().get(), as_itself, &merged);
  ASSERT_TRUE(status.ok()) << status.error_message();
  v1::GetHistoryRequest history;
  history.set_person_id(b.person_id());
  v1::GetHistoryResponse events;
  ASSERT_TRUE(stub_->GetHistory(Ctx().get(), WithContext(history), &events).ok());
  ASSERT_GT(events.events_size(), 0);
  const v1::IdentityEvent& last = *events.events().rbegin();
  ASSERT_EQ(last.type(), v1::IDENTITY_EVENT_TYPE_PERSONS_MERGED);
  EXPECT_EQ(last.actor().org(), "hie-operations");
  EXPECT_EQ(last.actor().user_id(), "operator") << "the certificate's CN";
  EXPECT_EQ(last.actor().role(), hie::common::v1::ROLE_HIE_OPERATOR);
}

TEST_F(IdentityServiceTest, AMemberCertificateOverGrpcIsRefused) {
  Register("clinic-a", "1", Alice());
  auto member = replica_->Stub("clinic-a");  // members feed HL7 or go through the gateway
  const DatabaseDump before = DumpDatabase();
  v1::ResolveRequest resolve = WithContext(v1::ResolveRequest());
  resolve.mutable_source_id()->set_org("clinic-a");
  resolve.mutable_source_id()->set_local_id("1");
  v1::ResolveResponse resolved;
  grpc::Status status = member->Resolve(Ctx().get(), resolve, &resolved);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  v1::RegisterSourceRecordResponse registered;
  status = member->RegisterSourceRecord(Ctx().get(), RegisterRequest("clinic-a", "2", Bob()),
                                        &registered);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  EXPECT_EQ(DumpDifferences(before, DumpDatabase()), "") << "a refused call changed the database";
}

TEST_F(IdentityServiceTest, AServerOnlyCertificateIsRefusedAsAClientInTheHandshake) {
  auto server_cert = replica_->Stub("identity");  // serverAuth only
  v1::RegisterSourceRecordResponse registered;
  auto ctx = Ctx();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::Status status = server_cert->RegisterSourceRecord(
      ctx.get(), RegisterRequest("clinic-a", "1", Alice()), &registered);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  // The same server answers a client certificate, and nothing was stored.
  v1::GetSourceRecordRequest get = WithContext(v1::GetSourceRecordRequest());
  get.mutable_source_id()->set_org("clinic-a");
  get.mutable_source_id()->set_local_id("1");
  v1::SourceRecord record;
  EXPECT_EQ(stub_->GetSourceRecord(Ctx().get(), get, &record).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(IdentityServiceTest, HostileTextIsInvalidArgumentNamingTheField) {
  const DatabaseDump before = DumpDatabase();
  Demographics escape = Alice();
  escape.mutable_name()->set_family("Vander\x1b[2Jmeer");
  v1::RegisterSourceRecordResponse registered;
  grpc::Status status = stub_->RegisterSourceRecord(
      Ctx().get(), RegisterRequest("clinic-a", "1", escape), &registered);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "demographics.name.family contains control characters");
  status = stub_->RegisterSourceRecord(
      Ctx().get(), RegisterRequest("clinic-a", std::string(300, '7'), Alice()), &registered);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("source_id.local_id"), std::string::npos)
      << status.error_message();
  EXPECT_EQ(status.error_message().find("777"), std::string::npos) << "never quotes the value";
  EXPECT_EQ(DumpDifferences(before, DumpDatabase()), "") << "a refused call changed the database";
}

}  // namespace
}  // namespace hie::identity
