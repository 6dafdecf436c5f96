import Mustache

/// The dashboard's templates: server-rendered HTML, no script. Every value goes through
/// `{{…}}`, which escapes `< > & " '`; no template uses the unescaped `{{{…}}}` form.
enum DashboardTemplates {
    static func library() throws -> MustacheLibrary {
        var library = MustacheLibrary()
        for (name, text) in [("header", header), ("footer", footer), ("overview", overview), ("images", images),
                             ("image", image), ("failures", failures), ("mismatches", mismatches), ("search", search), ("sourceRows", sourceRows),
                             ("tile", tile), ("pager", pager)] {
            try library.register(text, named: name)
        }
        return library
    }

    static let header = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}}</title>
        <style>
        :root { color-scheme: light dark; --muted: #6b7280; --line: #e5e7eb; --bad: #b91c1c; --card: #f9fafb; }
        @media (prefers-color-scheme: dark) { :root { --line: #374151; --card: #111827; --muted: #9ca3af; --bad: #f87171; } }
        body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; }
        header { display: flex; gap: 1.5rem; align-items: baseline; padding: .8rem 1.5rem; border-bottom: 1px solid var(--line); }
        header strong { font-size: 1.1rem; } header a { text-decoration: none; } header a.on { font-weight: 600; }
        main { padding: 1rem 1.5rem 3rem; max-width: 1200px; }
        h2 { font-size: 1.1rem; margin: 2rem 0 .6rem; } h2 small { font-weight: normal; color: var(--muted); }
        .totals { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: .7rem; }
        .total { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .6rem .8rem; }
        .total b { display: block; font-size: 1.35rem; } .total span, .muted { color: var(--muted); font-size: .85rem; }
        .grid { display: flex; flex-wrap: wrap; gap: .8rem; align-items: flex-end; }
        .tile { display: block; text-align: center; font-size: .75rem; color: var(--muted); text-decoration: none; }
        .tile img, .tile .none { display: block; border-radius: 4px; margin: 0 auto .2rem; }
        .tile .none { display: flex; align-items: center; justify-content: center; color: #333; }
        table { border-collapse: collapse; width: 100%; font-size: .85rem; }
        th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
        td.url { word-break: break-all; max-width: 28rem; } .error { color: var(--bad); word-break: break-word; }
        code { font-size: .8rem; word-break: break-all; } .swatch { display: inline-block; width: 1rem; height: 1rem; vertical-align: middle; border: 1px solid var(--line); }
        .pager { margin: 1rem 0; display: flex; gap: 1rem; } .filters a { margin-right: .8rem; }
        .variant { display: inline-block; margin: 0 1.5rem 1rem 0; vertical-align: top; }
        .filters a.on { font-weight: 600; text-decoration: none; } form.quick { margin-left: auto; }
        form.search { display: flex; flex-wrap: wrap; gap: .6rem 1rem; align-items: end; margin: 1rem 0; }
        form.search label { display: flex; flex-direction: column; font-size: .8rem; color: var(--muted); }
        form.search label.check { flex-direction: row; gap: .3rem; align-items: center; font-size: .9rem; color: inherit; }
        input[type=search], input[type=text] { font: inherit; padding: .3rem .5rem; min-width: 16rem; }
        .note { color: var(--bad); }
        </style></head><body>
        <header><strong>imgcache</strong>
        <a href="/"{{#overview}} class="on"{{/overview}}>Overview</a>
        <a href="/images"{{#imagesPage}} class="on"{{/imagesPage}}>Images</a>
        <a href="/failures"{{#failuresPage}} class="on"{{/failuresPage}}>Failures</a>
        <a href="/mismatches"{{#mismatchesPage}} class="on"{{/mismatchesPage}}>Size mismatches</a>
        <a href="/search"{{#searchPage}} class="on"{{/searchPage}}>Search</a>
        <a href="/metrics">Metrics</a>
        {{^searchPage}}<form class="quick" action="/search" method="get"><input type="search" name="q" placeholder="URL contains…" \
        aria-label="Search URLs"></form>{{/searchPage}}</header>
        <main>
        """

    static let footer = "</main></body></html>\n"

    static let tile = """
        <a class="tile" href="{{href}}" title="{{digest}}">{{#thumbnail}}<img src="{{thumbnail}}" width="{{width}}" height="{{height}}" \
        alt="" style="background-color: {{color}}">{{/thumbnail}}{{^thumbnail}}<span class="none" \
        style="width: {{width}}px; height: {{height}}px; background-color: {{color}}">no thumbnail</span>{{/thumbnail}}{{caption}}</a>
        """

    static let pager = """
        {{#pager}}<div class="pager"><span>page {{page}} of {{pages}} · {{total}} in all</span>\
        {{#previous}}<a href="{{previous}}">← previous</a>{{/previous}}{{#next}}<a href="{{next}}">next →</a>{{/next}}</div>{{/pager}}
        """

    static let sourceRows = """
        <table><thead><tr><th>URL</th><th>status</th><th>declared</th><th>decoded</th><th>seeds</th></tr></thead><tbody>
        {{#rows}}<tr><td class="url">{{#link}}<a href="{{link}}" rel="noreferrer nofollow">{{url}}</a>{{/link}}{{^link}}{{url}}{{/link}}\
        {{#error}}<div class="error">{{error}}</div>{{/error}}</td>
        <td>{{#image}}<a href="{{image}}">{{status}}</a>{{/image}}{{^image}}{{status}}{{/image}}{{#cached}} · cached{{/cached}}</td>
        <td>{{declared}}</td><td>{{decoded}}</td><td>{{#seeds}}<div><code>{{.}}</code></div>{{/seeds}}</td></tr>
        {{/rows}}{{^rows}}<tr><td colspan="5" class="muted">none</td></tr>{{/rows}}</tbody></table>
        """

    static let overview = """
        {{> header}}
        <div class="totals">{{#totals}}<div class="total">{{label}}<b>{{value}}</b><span>{{detail}}</span></div>{{/totals}}</div>
        <h2>Recent images <small>{{imageCount}} in all{{#moreImages}} · <a href="/images">every image</a>{{/moreImages}}</small></h2>
        <div class="grid">{{#recent}}{{> tile}}{{/recent}}{{^recent}}<p class="muted">No image is cached yet: run imgcache sync.</p>{{/recent}}</div>
        <h2>Failures <small>by reason{{#moreGroups}} · <a href="/failures">every reason</a>{{/moreGroups}}</small></h2>
        {{#failureGroups}}<h3>{{reason}} <small class="muted">{{count}}{{#more}} · <a href="{{href}}">all of them</a>{{/more}}</small></h3>
        {{> sourceRows}}{{/failureGroups}}{{^failureGroups}}<p class="muted">No URL failed.</p>{{/failureGroups}}
        <h2>Declared size differs from the image <small>{{mismatchCount}}: the page reserves a box of another shape and the layout shifts\
        {{#moreMismatches}} · <a href="/mismatches">all of them</a>{{/moreMismatches}}</small></h2>
        {{#mismatchTable}}{{> sourceRows}}{{/mismatchTable}}
        <h2>Largest images</h2>
        <table><thead><tr><th>image</th><th>size</th><th>original</th><th>with thumbnails</th></tr></thead><tbody>
        {{#largest}}<tr><td class="url"><a href="{{href}}">{{url}}</a></td><td>{{size}}</td><td>{{original}}</td><td>{{total}}</td></tr>{{/largest}}
        {{^largest}}<tr><td colspan="4" class="muted">none</td></tr>{{/largest}}</tbody></table>
        {{> footer}}
        """

    static let images = """
        {{> header}}<h2>Images{{#heading}}: {{heading}}{{/heading}} <small>newest first</small></h2>
        <p class="filters">{{#filters}}<a href="{{href}}"{{#on}} class="on"{{/on}}>{{label}}</a>{{/filters}}</p>
        <div class="grid">{{#tiles}}{{> tile}}{{/tiles}}{{^tiles}}<p class="muted">No image on this page.</p>{{/tiles}}</div>
        {{> pager}}{{> footer}}
        """

    static let failures = """
        {{> header}}<h2>Failures{{#reason}}: {{reason}}{{/reason}}</h2>
        <p class="filters"><a href="/failures">every reason</a>{{#groups}}<a href="{{href}}">{{reason}} ({{count}})</a>{{/groups}}</p>
        {{> sourceRows}}{{> pager}}{{> footer}}
        """

    static let mismatches = """
        {{> header}}<h2>Declared size differs from the image <small>worst first</small></h2>
        {{> sourceRows}}{{> pager}}{{> footer}}
        """

    static let search = """
        {{> header}}<h2>Search</h2>
        <form class="search" action="/search" method="get">
        <label>URL contains<input type="search" name="q" value="{{q}}" placeholder="cdn.example.com/2024"></label>
        <label>seed file or folder<input type="text" name="seed" value="{{seed}}" placeholder="posts/2024/"></label>
        <label class="check"><input type="checkbox" name="failed" value="1"{{#failed}} checked{{/failed}}> failed</label>
        <label class="check"><input type="checkbox" name="mismatch" value="1"{{#mismatch}} checked{{/mismatch}}> size mismatch</label>
        <button type="submit">Search</button></form>
        {{#note}}<p class="note">{{note}}</p>{{/note}}
        {{#results}}<p class="muted">{{count}}</p>{{> sourceRows}}
        <div class="pager">{{#first}}<a href="{{first}}">← first page</a>{{/first}}{{#next}}<a href="{{next}}">next →</a>{{/next}}</div>{{/results}}
        {{> footer}}
        """

    static let image = """
        {{> header}}<h2>Image <code>{{digest}}</code></h2>
        <p>{{#tile}}{{> tile}}{{/tile}}</p>
        <table><tbody>
        <tr><th>original</th><td><a href="{{original}}">{{format}} · {{size}} · {{bytes}}</a></td></tr>
        <tr><th>cached since</th><td>{{created}}</td></tr>
        <tr><th>placeholder</th><td><span class="swatch" style="background-color: {{color}}"></span> {{color}} · BlurHash <code>{{blurHash}}</code></td></tr>
        <tr><th>colour profile</th><td>{{profile}}</td></tr>
        </tbody></table>
        <h2>Variants</h2>
        {{#variants}}<div class="variant"><b>{{name}}</b>{{#missing}}<div class="muted">not cached</div>{{/missing}}
        {{#files}}<div><a href="{{url}}">{{format}}</a> · {{size}} · {{bytes}}</div>{{/files}}</div>{{/variants}}
        <h2>Named by</h2>
        {{#sourceTable}}{{> sourceRows}}{{/sourceTable}}
        {{> footer}}
        """
}
