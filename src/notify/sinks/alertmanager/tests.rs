use super::*;
use crate::logic::template::samples;

fn am() -> Alertmanager {
    Alertmanager {
        url: Secret::new("http://127.0.0.1:9"),
        labels: vec![("cluster".into(), "lb-prod".into())],
        resend_every: Duration::from_secs(60),
        host: "lb-01".into(),
        http: reqwest::Client::new(),
    }
}

#[test]
fn problems_fire_and_recoveries_end_with_the_same_labels() {
    let s = samples();
    let now = Utc::now();
    let d = |n: &Notice| Delivery {
        id: "x".into(),
        sink: "am".into(),
        notices: vec![n.clone()],
        test: false,
    };
    let fire = am().alerts(&d(&s[0]), now);
    let end = am().alerts(&d(&s[1]), now);
    assert_eq!(fire.len(), 1);
    assert_eq!(end.len(), 1);
    assert_eq!(fire[0]["labels"], end[0]["labels"]);
    assert_eq!(fire[0]["labels"]["alertname"], "HAProxyServerDown");
    assert_eq!(fire[0]["labels"]["cluster"], "lb-prod");
    assert!(
        fire[0]["labels"].get("host").is_none(),
        "per-node data stays out of labels"
    );
    assert_eq!(fire[0]["annotations"]["host"], "lb-01");
    let ends: DateTime<Utc> = end[0]["endsAt"].as_str().unwrap().parse().unwrap();
    assert!(ends <= now);
    let fire_end: DateTime<Utc> = fire[0]["endsAt"].as_str().unwrap().parse().unwrap();
    assert!(fire_end > now + chrono::Duration::minutes(3));
    // An info event that is not a problem maps to nothing.
    let mut info = s[0].clone();
    info.event.kind = Kind::ServerAdded;
    info.severity = crate::model::event::Severity::Info;
    assert!(am().alerts(&d(&info), now).is_empty());
}
