//! A small writer for the XML call-control documents several carriers
//! answer webhooks with (Twilio's TwiML, Telnyx's TeXML, Plivo XML): a
//! `<Response>` of verbs such as `<Say>`, `<Connect>`, `<Stream>`,
//! `<Parameter>`. Every attribute and text is escaped, so caller-controlled
//! values cannot change the document's structure.

/// Appends `value` to `out`, escaped for XML text and attribute values.
pub fn escape_xml(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Attribute-value normalisation would turn these into spaces.
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            // Not allowed in XML 1.0, not even as character references.
            '\u{0}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
}

/// An XML `<Response>` document under construction.
#[derive(Debug, Clone)]
pub struct XmlResponse {
    out: String,
}

impl Default for XmlResponse {
    fn default() -> Self {
        Self::new()
    }
}

impl XmlResponse {
    /// An empty `<Response>`.
    pub fn new() -> Self {
        let mut out = String::with_capacity(512);
        out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?><Response>"#);
        Self { out }
    }

    fn tag(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.out.push('<');
        self.out.push_str(name);
        for (key, value) in attrs {
            self.out.push(' ');
            self.out.push_str(key);
            self.out.push_str("=\"");
            escape_xml(&mut self.out, value);
            self.out.push('"');
        }
    }

    /// `<name attrs…>`.
    pub fn open(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        self.tag(name, attrs);
        self.out.push('>');
        self
    }

    /// `</name>`.
    pub fn close(&mut self, name: &str) -> &mut Self {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    /// `<name attrs…/>`.
    pub fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        self.tag(name, attrs);
        self.out.push_str("/>");
        self
    }

    /// `<name attrs…>text</name>`.
    pub fn text(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) -> &mut Self {
        self.open(name, attrs);
        escape_xml(&mut self.out, text);
        self.close(name)
    }

    /// `<Say voice=…>text</Say>`.
    pub fn say(&mut self, text: &str, voice: Option<&str>) -> &mut Self {
        match voice {
            Some(voice) => self.text("Say", &[("voice", voice)], text),
            None => self.text("Say", &[], text),
        }
    }

    /// `<Parameter name=… value=…/>` for each pair.
    pub fn parameters<'p>(
        &mut self,
        params: impl IntoIterator<Item = (&'p str, &'p str)>,
    ) -> &mut Self {
        for (name, value) in params {
            self.empty("Parameter", &[("name", name), ("value", value)]);
        }
        self
    }

    /// Closes `<Response>` and returns the document.
    pub fn finish(mut self) -> String {
        self.out.push_str("</Response>");
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(value: &str) -> String {
        let mut out = String::new();
        escape_xml(&mut out, value);
        out
    }

    #[test]
    fn escapes_specials_whitespace_and_controls() {
        assert_eq!(escaped(r#"a&b<c>d"e'f"#), "a&amp;b&lt;c&gt;d&quot;e&apos;f");
        assert_eq!(escaped("a\tb\nc\rd"), "a&#9;b&#10;c&#13;d");
        assert_eq!(escaped("a\u{0}b\u{1b}c\u{FFFF}d"), "abcd");
        assert_eq!(escaped("héllo ☎"), "héllo ☎");
    }

    #[test]
    fn builds_a_response() {
        let mut doc = XmlResponse::new();
        doc.open("Connect", &[])
            .open("Stream", &[("url", "wss://x/a?b&c")])
            .parameters([("k", "v\"")])
            .close("Stream")
            .close("Connect")
            .say("Bye <now>", Some("alice"))
            .empty("Hangup", &[]);
        assert_eq!(
            doc.finish(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Connect><Stream url=\"wss://x/a?b&amp;c\"><Parameter name=\"k\" value=\"v&quot;\"/></Stream></Connect><Say voice=\"alice\">Bye &lt;now&gt;</Say><Hangup/></Response>"
        );
    }
}
