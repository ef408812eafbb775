use super::*;

fn zh(format: Format) -> Renderer {
    Renderer::new(Lang::Zh, format, Zone::Named(chrono_tz::Asia::Shanghai), "lb-01", None).unwrap()
}

#[test]
fn built_in_templates_render_every_notice_kind() {
    for lang in [Lang::Zh, Lang::En] {
        for format in [Format::Text, Format::Markdown, Format::Slack] {
            let r = Renderer::new(lang, format, Zone::Local, "lb-01", None).unwrap();
            for n in samples() {
                let out = r.render(std::slice::from_ref(&n), "s", false).unwrap();
                assert!(
                    !out.title.is_empty() && !out.body.is_empty(),
                    "{lang:?} {format:?} {n:?}"
                );
                assert!(!out.title.contains('\n'));
            }
        }
    }
}

#[test]
fn a_recovery_says_how_long_it_was_down() {
    let s = samples();
    let out = zh(Format::Markdown).render(&s[1..2], "dd", false).unwrap();
    assert_eq!(out.title, "✅ 服务器恢复 · be_app/app1 (持续 3分12秒)");
    assert!(out.body.contains("恢复，故障持续 3分12秒"), "{}", out.body);
    assert!(out.body.contains("**✅") || out.body.contains("✅ **"), "{}", out.body);
    let en = Renderer::new(Lang::En, Format::Text, Zone::Local, "h", None).unwrap();
    let out = en.render(&s[1..2], "x", false).unwrap();
    assert!(out.body.contains("the problem lasted 3m12s"), "{}", out.body);
}

#[test]
fn a_backend_notice_names_its_servers_and_many_notices_get_a_summary_title() {
    let s = samples();
    let r = zh(Format::Text);
    let out = r.render(&s[2..3], "x", false).unwrap();
    assert!(out.body.contains("app1 DOWN，app2 MAINT"), "{}", out.body);
    let out = r.render(&s, "x", false).unwrap();
    assert!(out.title.starts_with("🚨 HAProxy 状态变更 11 项"), "{}", out.title);
}

#[test]
fn haproxy_text_cannot_mention_or_format() {
    let mut s = samples();
    s[0].event.check.as_mut().unwrap().info = Some("<at id=all></at> *boom*".into());
    let out = zh(Format::Markdown).render(&s[..1], "x", false).unwrap();
    assert!(
        !out.body.contains("<at") && !out.body.contains("*boom*"),
        "{}",
        out.body
    );
    let slack = Renderer::new(Lang::En, Format::Slack, Zone::Local, "h", None).unwrap();
    s[0].event.check.as_mut().unwrap().info = Some("<!channel> & co".into());
    let out = slack.render(&s[..1], "x", false).unwrap();
    assert!(out.body.contains("&lt;!channel&gt; &amp; co"), "{}", out.body);
}

#[test]
fn broken_templates_fail_at_load_with_a_line_number() {
    let bad = |src: &str| {
        Renderer::new(Lang::Zh, Format::Text, Zone::Local, "h", Some(("my.jinja", src.into()))).unwrap_err()
    };
    let e = bad(
        "{% block title %}x{% endblock %}{% block body %}{% for n in notices %}{{ n.nope }}{% endfor %}{% endblock %}",
    );
    assert!(e.contains("my.jinja") && e.contains("line 1"), "{e}");
    let e = bad("{% block title %}x{% endblock %}\n{% block body %}{% if %}{% endblock %}");
    assert!(e.contains("line 2"), "{e}");
    let e = bad("just text, no blocks");
    assert!(e.contains("title"), "{e}");
    let ok = Renderer::new(
        Lang::En,
        Format::Text,
        Zone::Local,
        "h",
        Some(("ok.jinja", "{% block title %}{{ count }} change(s){% endblock %}{% block body %}{% for n in notices %}{{ n.subject }} {{ n.to }}\n{% endfor %}{% endblock %}".into())),
    )
    .unwrap();
    assert_eq!(ok.render(&samples()[..1], "x", false).unwrap().title, "1 change(s)");
}

#[test]
fn durations_read_naturally() {
    assert_eq!(human_duration(192_000, Lang::Zh), "3分12秒");
    assert_eq!(human_duration(192_000, Lang::En), "3m12s");
    assert_eq!(human_duration(3_600_000, Lang::Zh), "1小时");
    assert_eq!(human_duration(90_061_000, Lang::En), "1d1h");
    assert_eq!(human_duration(0, Lang::En), "0s");
}

#[test]
fn prometheus_alerts_render_with_their_summary_and_labels() {
    let s = samples();
    let alerts: Vec<_> = s.iter().filter(|n| n.event.alert.is_some()).cloned().collect();
    assert_eq!(alerts.len(), 2);
    let out = zh(Format::Markdown).render(&alerts[..1], "x", false).unwrap();
    assert!(
        out.title
            .contains("Prometheus 告警 · HaproxyHighHttp5xxErrorRateBackend"),
        "{}",
        out.title
    );
    assert!(
        out.body.contains("5% on be_app") && out.body.contains("12% of responses"),
        "{}",
        out.body
    );
    assert!(out.body.contains("backend=be_app, severity=critical"), "{}", out.body);
    assert!(out.body.contains("触发中"), "{}", out.body);
    let out = zh(Format::Text).render(&alerts, "x", false).unwrap();
    assert!(out.title.contains("Prometheus 告警 2 项"), "{}", out.title);
    let en = Renderer::new(Lang::En, Format::Text, Zone::Local, "h", None).unwrap();
    let out = en.render(&alerts[1..], "x", false).unwrap();
    assert!(out.title.contains("Prometheus alert resolved"), "{}", out.title);
    assert!(out.body.contains("Status: resolved"), "{}", out.body);
}

/// Issue 12: every value a template prints is escaped for its format, also
/// in a custom template that forgets `|esc`; what a template writes itself
/// (its markup, `|b`, `|safe`) is not.
#[test]
fn outside_text_is_escaped_in_every_format_even_without_esc() {
    use super::{assert_no_hostile_markup, hostile_samples};
    for format in [Format::Markdown, Format::Text, Format::FeishuText, Format::Slack] {
        let custom = "{% block title %}{{ notices[0].subject }}{% endblock %}\
            {% block body %}**{{ notices[0].message }}** {{ notices[0].label|b }} [doc](https://docs.example) \
            {{ notices[0].alert.labels if notices[0].alert else notices[0].check }} {{ '_ok_'|safe }}{% endblock %}";
        let r = Renderer::new(Lang::En, format, Zone::Local, "h", Some(("t.jinja", custom.into()))).unwrap();
        for n in hostile_samples() {
            let out = r.render(std::slice::from_ref(&n), "s", false).unwrap();
            let all = format!("{}\n{}", out.title, out.body);
            assert!(!all.lines().any(|l| l.starts_with("FAKE LINE")), "{format:?}: {all}");
            assert!(
                !all.contains('\u{1b}') && !all.contains('\u{202e}'),
                "{format:?}: {all:?}"
            );
            assert!(
                all.contains("[doc](https://docs.example)") && all.contains("_ok_"),
                "{all}"
            );
            match format {
                Format::Markdown => {
                    assert!(
                        out.body.starts_with("**［click］（http://evil.example）"),
                        "{}",
                        out.body
                    );
                    let built_in = Renderer::new(Lang::En, format, Zone::Local, "h", None).unwrap();
                    let b = built_in.render(std::slice::from_ref(&n), "s", false).unwrap();
                    assert_no_hostile_markup("built-in markdown", &format!("{}\n{}", b.title, b.body));
                }
                Format::Slack => assert!(!all.contains("<at") && !all.contains("<@"), "{all}"),
                Format::FeishuText => assert!(!all.contains("<at"), "{all}"),
                Format::Text => assert!(all.contains("<at id=all>"), "{all}"),
            }
        }
    }
    // Plain names stay as they are: `be_app` keeps its underscore.
    assert_eq!(
        escape("be_app/app_1 _x_ a_", Format::Markdown),
        "be_app/app_1 ＿x＿ a＿"
    );
    assert_eq!(escape("# h #2", Format::Markdown), "＃ h #2");
}
