//! The page's files, compiled into the library: nothing to install beside
//! the `.so`, and nothing fetched from another origin.

use voicegate_plugin_api::HttpResponse;

/// One static file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Path below the instance prefix (`""` is the page itself).
    pub path: &'static str,
    /// `Content-Type` (a worklet module must be JavaScript, or the browser
    /// refuses it).
    pub content_type: &'static str,
    /// The file.
    pub body: &'static str,
    /// One line for `voicegate plugins`.
    pub description: &'static str,
}

/// The page. Its own origin only: scripts, styles, the worklet module and
/// the WebSocket (`connect-src 'self'` covers `ws:`/`wss:` to the same
/// host in CSP 3 browsers).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

/// The page.
pub const INDEX: Asset = Asset {
    path: "",
    content_type: "text/html; charset=utf-8",
    body: include_str!("../assets/index.html"),
    description: "the voice page",
};

/// Files served beside the page (the page itself is [`INDEX`]).
pub const ASSETS: [Asset; 3] = [
    Asset {
        path: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/app.js"),
        description: "the page's script",
    },
    Asset {
        path: "worklet.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/worklet.js"),
        description: "the AudioWorklet that turns the microphone into 16 kHz 20 ms PCM frames",
    },
    Asset {
        path: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../assets/style.css"),
        description: "the page's styles",
    },
];

/// The asset at `path`, if there is one.
pub fn find(path: &str) -> Option<&'static Asset> {
    if path.is_empty() || path == "index.html" {
        return Some(&INDEX);
    }
    ASSETS.iter().find(|a| a.path == path)
}

impl Asset {
    /// The `200 OK` serving it.
    pub fn response(&self) -> HttpResponse {
        let resp = HttpResponse::ok(self.content_type, self.body.as_bytes())
            // Revalidate: after an upgrade, the page and its script must
            // not come from different versions.
            .header("cache-control", "no-cache")
            .header("x-content-type-options", "nosniff");
        if self.content_type.starts_with("text/html") {
            resp.header("content-security-policy", CSP)
                .header("referrer-policy", "no-referrer")
                .header("permissions-policy", "microphone=(self)")
                .header("x-frame-options", "DENY")
        } else {
            resp
        }
    }
}
