// The identity service end to end in one process: real gRPC with mutual TLS on loopback, the
// PostgreSQL store on a fresh database (HIE_TEST_PG_DSN), a real Redis cache (a redis-server
// owned by the test), the real matching engine.

#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include <atomic>

#include "hie/identity/v1/identity.grpc.pb.h"
#include "services/common/pg/migrations.h"
#include "services/common/server.h"
#include "services/common/worker_pool.h"
#include "services/identity/api/identity_service.h"
#include "services/identity/core/mpi_matcher.h"
#include "services/identity/store/migrations.h"
#include "services/identity/store/pg_identity_store.h"
#include "services/identity/store/redis_resolve_cache.h"
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
  for (int i = 0; i < kClinics; ++i) {
    threads.emplace_back([&, i] {
      persons[i] = Register("clinic-" + std::to_string(i), "X", Bob(), stubs[i].get()).person_id();
    });
  }
  for (auto& t : threads) t.join();
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
    for (int i = 0; i < kCallers; ++i) {
      threads.emplace_back([&, i] {
        persons[i] = Register("clinic-" + std::to_string(i), "R" + std::to_string(round), patient,
                              stubs[i].get())
                         .person_id();
      });
    }
    for (auto& t : threads) t.join();
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
      statuses[c] = stubs[c]->RegisterSourceRecords(Ctx().get(), WithContext(batch), &responses[c]);
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

}  // namespace
}  // namespace hie::identity
