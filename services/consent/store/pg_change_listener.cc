#include "services/consent/store/pg_change_listener.h"

#include <charconv>
#include <pqxx/connection>
#include <pqxx/notification>

#include "services/common/logging.h"
#include "services/common/pg/pool.h"
#include "services/consent/store/migrations.h"

namespace hie::consent {
namespace {

class Receiver : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& c, const PgChangeListener::OnChange& on_change,
           std::atomic<uint64_t>* count)
      : pqxx::notification_receiver(c, kChangeChannel), on_change_(on_change), count_(count) {}
  void operator()(const std::string& payload, int) override {
    int64_t version = 0;
    std::from_chars(payload.data(), payload.data() + payload.size(), version);
    count_->fetch_add(1);
    on_change_(version);
  }

 private:
  const PgChangeListener::OnChange& on_change_;
  std::atomic<uint64_t>* count_;
};

}  // namespace

PgChangeListener::PgChangeListener(std::string dsn, OnChange on_change, absl::Duration retry)
    : dsn_(pg::WithConnectTimeout(dsn, absl::Seconds(2))),
      on_change_(std::move(on_change)),
      retry_(retry) {}

PgChangeListener::~PgChangeListener() { Stop(); }

void PgChangeListener::Start() {
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void PgChangeListener::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void PgChangeListener::Loop() {
  bool logged_down = false;
  while (!stop_) {
    try {
      pqxx::connection conn(dsn_);
      Receiver receiver(conn, on_change_, &notifications_);
      conn.get_notifs();  // the LISTEN is in place
      connected_ = true;
      logged_down = false;
      on_change_(0);  // anything sent while we were not listening
      while (!stop_) conn.await_notification(0, 200000);  // wake up to check stop_
    } catch (const std::exception&) {
      connected_ = false;
      if (!logged_down) {
        Log(LogLevel::kWarning, "consent_listen_disconnected", {});
        logged_down = true;
      }
    }
    connected_ = false;
    const absl::Time until = absl::Now() + retry_;
    while (!stop_ && absl::Now() < until) absl::SleepFor(absl::Milliseconds(50));
  }
}

}  // namespace hie::consent
