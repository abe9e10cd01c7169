//! `cargo xtask corpus`: fetch the pinned real-world modules and check that
//! wsc signs and verifies each, and that wasmsign2 verifies wsc's output.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Result, bail};

use crate::util::{self, code, code_stderr};

/// Every file fetched by `testdata/corpus/fetch.sh`.
pub(crate) const ALL: &[&str] = &[
    "tiny-tree-sitter-json",
    "small-source-map-mappings",
    "medium-sql-wasm",
    "medium-javy-plugin",
    "large-fastly",
    "large-esbuild",
    "large-swc",
    "large-flite",
    "wasi-adapter-command",
    "component",
];

/// Downloads (or re-checks) the corpus into `dest`.
pub(crate) fn fetch(dest: &Path) -> Result<()> {
    let script = util::root().join("testdata/corpus/fetch.sh");
    util::run(Command::new("sh").arg(script).arg(dest))
}

fn expect(what: &str, got: i32, want: i32, stderr: &str) -> Result<()> {
    if got != want {
        bail!("{what}: exit {got}, expected {want}\n{stderr}");
    }
    Ok(())
}

/// Signs and verifies every corpus file in several ways.
pub(crate) fn check(dir: &Path) -> Result<()> {
    let wsc = crate::build_release_wsc()?;
    let wasmsign2 = crate::find_wasmsign2()?;
    let tmp = crate::bench::tempfile_dir()?;
    let p = |n: &str| tmp.join(n);
    let wscc = || Command::new(&wsc);
    util::run(wscc().args(["keygen", "-k"]).arg(p("ed.sk")).arg("-K").arg(p("ed.pk")))?;
    util::run(wscc().args(["keygen", "--algorithm", "p256", "-k"]).arg(p("ec.sk")).arg("-K").arg(p("ec.pk")))?;
    for name in ALL {
        let f: PathBuf = dir.join(format!("{name}.wasm"));
        let fs = f.as_os_str();
        let (c, e) = code_stderr(
            wscc()
                .arg("sign")
                .arg("-i")
                .arg(fs)
                .arg("-o")
                .arg(p("s.wasm"))
                .arg("-k")
                .arg(p("ed.sk"))
                .arg("-K")
                .arg(p("ed.pk")),
        )?;
        expect(&format!("{name}: wsc sign"), c, 0, &e)?;
        let padded = e.contains("non-minimal");
        let (c, e) = code_stderr(wscc().arg("verify").arg("-i").arg(p("s.wasm")).arg("-K").arg(p("ed.pk")))?;
        expect(&format!("{name}: wsc verify"), c, 0, &e)?;
        let (c, e) =
            code_stderr(Command::new(&wasmsign2).arg("verify").arg("-i").arg(p("s.wasm")).arg("-K").arg(p("ed.pk")))?;
        expect(&format!("{name}: wasmsign2 verify of wsc's output"), c, 0, &e)?;

        let (c, e) = code_stderr(
            wscc()
                .arg("sign")
                .arg("-i")
                .arg(p("s.wasm"))
                .arg("-o")
                .arg(p("s2.wasm"))
                .arg("-k")
                .arg(p("ec.sk"))
                .arg("-K")
                .arg(p("ec.pk")),
        )?;
        expect(&format!("{name}: wsc sign (P-256 co-signature)"), c, 0, &e)?;
        let out = wscc()
            .arg("verify_matrix")
            .arg("--json")
            .arg("-i")
            .arg(p("s2.wasm"))
            .arg("-K")
            .arg(p("ed.pk"))
            .arg(p("ec.pk"))
            .output()?;
        let json = String::from_utf8_lossy(&out.stdout);
        // The verdict: each key either counted or verified and was not needed.
        let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
        let valid = |key: &str| {
            v["satisfied"]["any"].as_array().is_some_and(|a| a.iter().any(|s| s["principal"] == key))
                || v["unused"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|u| u["principal"] == key && u["why"] == "not_needed"))
        };
        if out.status.code() != Some(0) || v["decision"] != "accepted" || !valid("key-1") || !valid("key-2") {
            bail!("{name}: verify_matrix with both keys did not verify both:\n{json}");
        }
        let (c, e) =
            code_stderr(Command::new(&wasmsign2).arg("verify").arg("-i").arg(p("s2.wasm")).arg("-K").arg(p("ed.pk")))?;
        expect(&format!("{name}: wasmsign2 verify with a P-256 record present"), c, 0, &e)?;

        let (c, e) =
            code_stderr(wscc().arg("sign").arg("-i").arg(fs).arg("-S").arg(p("d.sig")).arg("-k").arg(p("ed.sk")))?;
        expect(&format!("{name}: wsc sign -S"), c, 0, &e)?;
        let (c, e) =
            code_stderr(wscc().arg("verify").arg("-i").arg(fs).arg("-S").arg(p("d.sig")).arg("-K").arg(p("ed.pk")))?;
        expect(&format!("{name}: detached signature against the original file"), c, 0, &e)?;

        let mut bytes = std::fs::read(p("s.wasm"))?;
        let at = bytes.len() - 3;
        bytes[at] ^= 0x20;
        std::fs::write(p("t.wasm"), &bytes)?;
        let c = code(wscc().arg("verify").arg("-i").arg(p("t.wasm")).arg("-K").arg(p("ed.pk")))?;
        expect(&format!("{name}: tampered copy"), c, 1, "a tampered module must fail verification with exit 1")?;

        let (c, e) =
            code_stderr(wscc().arg("split").arg("-i").arg(fs).arg("-o").arg(p("p.wasm")).arg("-s").arg("^name$"))?;
        expect(&format!("{name}: wsc split"), c, 0, &e)?;
        let (c, e) = code_stderr(
            wscc().arg("sign").arg("-i").arg(p("p.wasm")).arg("-o").arg(p("ps.wasm")).arg("-k").arg(p("ed.sk")),
        )?;
        expect(&format!("{name}: wsc sign of the split module"), c, 0, &e)?;
        for args in [&["-s", "^name$"][..], &[][..]] {
            let (c, e) =
                code_stderr(wscc().arg("verify").arg("-i").arg(p("ps.wasm")).arg("-K").arg(p("ed.pk")).args(args))?;
            expect(&format!("{name}: verify of the split module {args:?}"), c, 0, &e)?;
        }
        let (c, e) =
            code_stderr(Command::new(&wasmsign2).arg("verify").arg("-i").arg(p("ps.wasm")).arg("-K").arg(p("ed.pk")))?;
        expect(&format!("{name}: wasmsign2 verify of the split module"), c, 0, &e)?;
        eprintln!(
            "ok    {name}{}",
            if padded {
                " (non-minimal size encodings: embedded signing re-encodes; detached signature verifies against the original)"
            } else {
                ""
            }
        );
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}
