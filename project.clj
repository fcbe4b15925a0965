(defproject org.clojars.sockets/sockets "0.1.0-SNAPSHOT"
  :description "BSD sockets for Clojure and Java: the CHICKEN socket egg's API over jnr-ffi, with data-driven addresses and options."
  :license {:name "BSD-3-Clause"}
  ;; A consumer gets exactly this jnr set without pins of its own: jnr-posix/jnr-ffi would
  ;; bring jffi 1.4.7 (whose "native" jar Maven Central lacks; tools.deps picks the newest it
  ;; meets), so jffi is excluded under jnr-posix and only the pinned 1.4.3 (+ native) remains.
  ;; core.async's asm is excluded so Leiningen (nearest wins) and tools.deps (newest wins)
  ;; both take jnr-ffi's.
  :dependencies [[org.clojure/clojure "1.12.6"]
                 [org.clojure/core.async "1.9.865" :exclusions [org.ow2.asm/asm]]
                 [org.clojure/test.check "1.1.3"]
                 [com.github.jnr/jnr-posix "3.2.8" :exclusions [com.github.jnr/jffi]]
                 [com.github.jnr/jffi "1.4.3"]
                 [com.github.jnr/jffi "1.4.3" :classifier "native"]]
  :source-paths ["src/clj"]
  :java-source-paths ["src/java"]
  :javac-options ["--release" "17" "-Xlint:all,-serial,-processing,-options" "-Werror"]
  :test-paths ["test"]
  :resource-paths []
  ;; `lein run`: the tour (no arguments) or the command line (sockets.tour hands arguments to
  ;; sockets.cli); the uberjar's main is sockets.cli alone, so `java -jar` starts fast
  :main sockets.tour
  :jvm-opts ["-XX:-OmitStackTraceInFastThrow"]
  ;; The default profile pulls nREPL from Clojars, which is not reachable everywhere:
  ;; :base is emptied and nREPL lives in :repl, so `lein repl` works where Clojars is.
  :profiles {:base {}
             :dev {:source-paths ["dev"]}
             ;; only for `lein dev` (a fixed port: never in a profile tests run with)
             :socket-repl {:jvm-opts ["-Dclojure.server.repl={:port 5555 :accept clojure.core.server/repl}"]}
             :repl {:dependencies [[nrepl/nrepl "1.3.1"]]}
             ;; AOT output kept apart, so stale compiled namespaces never shadow src/ in target/classes
             ;; everything AOT-compiled (the CLI, the tour and what it loads: sockets.async, sockets.gen,
             ;; ...) with direct linking, so neither --help nor the tour compiles Clojure at run time
             :uberjar {:aot :all :target-path "target/uberjar" :main sockets.cli
                       :jvm-opts ["-Dclojure.compiler.direct-linking=true"]}
             ;; `lein bench`: bench/ (sockets.bench, C programs in bench/c) is only on this profile's path
             :bench {:source-paths ["bench"]
                     ;; Netty's native epoll transport, the bench's best-JVM-transport peer (bench/sockets/bench/netty.clj)
                     :dependencies [[io.netty/netty-transport-native-epoll "4.2.18.Final" :classifier "linux-x86_64"]
                                    [io.netty/netty-transport-classes-epoll "4.2.18.Final"]]}}
  :test-selectors {:default (complement :slow)
                   :slow :slow
                   :all (constantly true)}
  :aliases {"bench" ["with-profile" "+bench" "run" "-m" "sockets.bench"]
            ;; `lein docs`: API reference HTML in target/doc/api (dev/api_docs.clj; no Clojars needed)
            "docs" ["with-profile" "+dev" "run" "-m" "api-docs"]
            ;; `lein dev`: a plain REPL (no nREPL, no Clojars) with dev/ on the path (call (dev)),
            ;; and a socket REPL on 127.0.0.1:5555 for editors (inf-clojure, Chlorine, Conjure, ...)
            "dev" ["with-profile" "+dev,+socket-repl" "trampoline" "run" "-m" "clojure.main"]})
