// hie-consent: the consent service. Wiring only.
//
// Start-up (the common part is services/common/service.h): configuration; PostgreSQL (retried
// until the startup timeout) and the consent schema's migrations; the in-memory view loaded
// with the directives and grants in force; then the mTLS gRPC server, the LISTEN thread, the
// view refresher (every --version-check-period, and at once on NOTIFY) and the outbox
// delivery (every --outbox-period), and health turns SERVING. Health follows the view: it is
// NOT_SERVING while the view is not confirmed current within --max-view-age (decisions then
// DENY with basis CONSENT_UNAVAILABLE anyway). On SIGTERM: periodic work stops, the refresher
// and listener stop, in-flight calls get --drain-timeout.

#include <prometheus/gauge.h>
#include <unistd.h>

#include "services/common/config.h"
#include "services/common/logging.h"
#include "services/common/service.h"
#include "services/common/status_macros.h"
#include "services/common/worker_pool.h"
#include "services/consent/api/consent_service.h"
#include "services/consent/api/grpc_clients.h"
#include "services/consent/core/consent_manager.h"
#include "services/consent/core/outbox_deliverer.h"
#include "services/consent/core/policy_config.h"
#include "services/consent/core/view_refresher.h"
#include "services/consent/store/migrations.h"
#include "services/consent/store/pg_change_listener.h"
#include "services/consent/store/pg_consent_store.h"

namespace {

const hie::ServiceSpec& Spec() {
  static const hie::ServiceSpec* spec = new hie::ServiceSpec{
      .name = "consent",
      .listen = "127.0.0.1:7004",
      .metrics_listen = "127.0.0.1:9404",
      .schema = hie::consent::kSchema,
      .migrations = hie::consent::Migrations(),
      .uses_redis = false,
      .keys = {
          {"default-mode", "opt-out",
           "HIE default policy when no directive decides: opt-out or opt-in"},
          {"protected-labels", "ETH,HIV,PSY,SDV,SEX",
           "sensitivity labels that need an explicit PERMIT naming them, SYSTEM|CODE,... (a bare "
           "CODE is HL7 v3 ActCode)"},
          {"exempt-purposes", "", "purposes exempt from consent by law, e.g. public_health"},
          {"max-break-glass", "1h", "longest break-glass grant (also the default duration)"},
          {"break-glass-reveals-protected", "false",
           "whether break-glass also reveals protected labels"},
          {"mask-denied-custodians", "false", "gateway reports consent-denied members as NO_DATA"},
          {"policy-version", "", "recorded in decisions; empty: derived from the policy settings"},
          {"delegating-services", "gateway",
           "certificate CNs of hub services that may act on behalf of a user (context.actor)"},
          {"identity", "127.0.0.1:7001",
           "identity service HOST:PORT for break-glass coverage; empty: no grant ever applies"},
          {"audit", "", "audit service HOST:PORT for the outbox; empty: rows stay undelivered"},
          {"client-cert", "var/certs/consent-client.pem",
           "client certificate to call identity and audit"},
          {"client-key", "var/certs/consent-client.key", "its key"},
          {"max-view-age", "1s",
           "decisions DENY when the view was not confirmed current this recently"},
          {"version-check-period", "200ms", "how often the view's version is checked"},
          {"outbox-period", "1s", "how often the audit outbox is delivered"},
          {"outbox-batch", "500", "events per RecordBatch call (1 to 1000)"},
      }};
  return *spec;
}

struct Settings {
  hie::consent::ConsentManagerOptions manager;
  hie::consent::AuthorizationPolicy authorization;
  absl::Duration check_period;
  absl::Duration outbox_period;
  int64_t outbox_batch = 500;
};

absl::StatusOr<Settings> ReadSettings(const hie::Config& config) {
  Settings s;
  hie::consent::PolicySettings policy;
  policy.default_mode = config.Get("default-mode");
  policy.protected_labels = config.Get("protected-labels");
  policy.exempt_purposes = config.Get("exempt-purposes");
  HIE_ASSIGN_OR_RETURN(policy.max_break_glass, config.GetDuration("max-break-glass"));
  HIE_ASSIGN_OR_RETURN(policy.break_glass_reveals_protected,
                       config.GetBool("break-glass-reveals-protected"));
  HIE_ASSIGN_OR_RETURN(policy.mask_denied_custodians, config.GetBool("mask-denied-custodians"));
  policy.policy_version = config.Get("policy-version");
  HIE_ASSIGN_OR_RETURN(s.manager.policy, hie::consent::BuildPolicy(policy));
  HIE_ASSIGN_OR_RETURN(s.authorization,
                       hie::consent::ParseDelegatingServices(config.Get("delegating-services")));
  HIE_ASSIGN_OR_RETURN(s.manager.max_view_age, config.GetDuration("max-view-age"));
  if (s.manager.max_view_age <= absl::ZeroDuration() || s.manager.max_view_age > absl::Seconds(1)) {
    return absl::InvalidArgumentError("--max-view-age must be positive and at most 1s");
  }
  HIE_ASSIGN_OR_RETURN(s.check_period, config.GetDuration("version-check-period"));
  if (s.check_period <= absl::ZeroDuration() || s.check_period >= s.manager.max_view_age) {
    return absl::InvalidArgumentError("--version-check-period must be below --max-view-age");
  }
  HIE_ASSIGN_OR_RETURN(s.outbox_period, config.GetDuration("outbox-period"));
  HIE_ASSIGN_OR_RETURN(s.outbox_batch, config.GetInt("outbox-batch"));
  if (s.outbox_batch < 1 || s.outbox_batch > 1000) {
    return absl::InvalidArgumentError("--outbox-batch must be 1 to 1000");
  }
  return s;
}

prometheus::Gauge& Gauge(hie::GrpcServer* server, const std::string& name,
                         const std::string& help) {
  return prometheus::BuildGauge()
      .Name(name)
      .Help(help)
      .Register(server->metrics().registry())
      .Add({});
}

absl::Status Serve(hie::ServiceRuntime& rt) {
  const hie::Config& config = rt.config();
  HIE_ASSIGN_OR_RETURN(Settings settings, ReadSettings(config));
  const hie::TlsFiles client_tls{config.Get("tls-ca"), config.Get("client-cert"),
                                 config.Get("client-key")};
  std::unique_ptr<hie::consent::GrpcPersonResolver> identity;
  if (!config.Get("identity").empty()) {
    HIE_ASSIGN_OR_RETURN(
        identity, hie::consent::GrpcPersonResolver::Create(config.Get("identity"), client_tls));
  }
  std::unique_ptr<hie::consent::GrpcAuditSink> audit;
  if (!config.Get("audit").empty()) {
    HIE_ASSIGN_OR_RETURN(audit,
                         hie::consent::GrpcAuditSink::Create(config.Get("audit"), client_tls));
  } else {
    hie::Log(hie::LogLevel::kWarning, "audit_not_configured",
             {{"hint", "outbox rows stay undelivered until --audit is set"}});
  }
  hie::consent::SystemClock clock;
  hie::consent::PgConsentStore store(rt.pool());
  // The freshness reads get their own small pool, so that a burst of writes cannot starve the
  // version check (and turn every decision into DENY).
  HIE_ASSIGN_OR_RETURN(std::unique_ptr<hie::pg::PgPool> feed_pool,
                       hie::pg::PgPool::Create({.dsn = config.Get("pg-dsn"), .size = 1}));
  hie::consent::PgConsentStore feed_store(feed_pool.get());
  hie::consent::ConsentView view;
  hie::consent::ViewRefresher refresher(&feed_store, &view, &clock,
                                        {.period = settings.check_period});
  HIE_RETURN_IF_ERROR(refresher.LoadInitial(rt.startup_deadline()));
  hie::Log(hie::LogLevel::kInfo, "consent_view_loaded",
           {{"directives", static_cast<uint64_t>(view.directive_count())},
            {"grants", static_cast<uint64_t>(view.grant_count())},
            {"version", view.version()},
            {"unreadable_rows_skipped", refresher.unreadable_rows()}});
  hie::consent::ConsentManager manager(&store, &view, identity.get(), &clock, settings.manager);
  manager.SetAfterWrite([&] { (void)refresher.RefreshNow(); });
  hie::consent::OutboxDeliverer deliverer(&store, audit.get(),
                                          static_cast<size_t>(settings.outbox_batch));

  hie::WorkerPool worker_pool(rt.worker_threads(), rt.max_queued());
  hie::consent::ConsentServiceImpl service(&manager, &worker_pool,
                                           {.authorization = settings.authorization});
  HIE_ASSIGN_OR_RETURN(hie::GrpcServer * server, rt.StartGrpc({&service}));
  auto& view_version = Gauge(server, "hie_consent_view_version", "Version of the consent view");
  auto& view_age = Gauge(server, "hie_consent_view_age_seconds",
                         "Seconds since the view was last confirmed current");
  auto& backlog = Gauge(server, "hie_consent_outbox_backlog", "Audit outbox rows not delivered");
  auto& unreadable = Gauge(server, "hie_consent_unreadable_rows_skipped",
                           "Stored rows found unreadable and left out of the view");

  hie::consent::PgChangeListener listener(config.Get("pg-dsn"), [&](int64_t) { refresher.Wake(); });
  listener.Start();
  refresher.Start();
  bool serving = true;
  rt.Every("view_health", absl::Milliseconds(200), [&] {
    const bool fresh = view.FreshAt(clock.Now(), settings.manager.max_view_age);
    view_version.Set(static_cast<double>(view.version()));
    view_age.Set(absl::ToDoubleSeconds(clock.Now() - view.confirmed_at()));
    unreadable.Set(static_cast<double>(refresher.unreadable_rows()));
    if (fresh != serving) {
      serving = fresh;
      server->SetServing(fresh);
      hie::Log(fresh ? hie::LogLevel::kInfo : hie::LogLevel::kError, "health_changed",
               {{"serving", fresh}, {"view_version", view.version()}});
    }
  });
  rt.Every("outbox", settings.outbox_period, [&] {
    hie::consent::DeliveryReport r = deliverer.DeliverOnce(absl::Now() + absl::Seconds(5));
    if (r.backlog >= 0) backlog.Set(static_cast<double>(r.backlog));
    if (!r.status.ok() || r.backlog > 0) {
      hie::Log(r.status.ok() ? hie::LogLevel::kInfo : hie::LogLevel::kWarning, "outbox_backlog",
               {{"delivered", static_cast<uint64_t>(r.delivered)},
                {"backlog", r.backlog},
                {"code", absl::StatusCodeToString(r.status.code())}});
    }
  });
  rt.OnDrain([&] {
    refresher.Stop();
    listener.Stop();
  });
  return rt.ServeUntilTerminated();
}

}  // namespace

int main(int argc, char** argv) {
  hie::BlockTerminationSignals();
  return hie::RunService(Spec(), argc, argv, environ, Serve);
}
