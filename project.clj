(defproject org.clojars.sockets/sockets "0.1.0-SNAPSHOT"
  :description "BSD sockets for Clojure and Java: the CHICKEN socket egg's API over jnr-ffi, with data-driven addresses and options."
  :license {:name "BSD-3-Clause"}
  :dependencies [[org.clojure/clojure "1.12.6"]
                 [org.clojure/core.async "1.9.865"]
                 [org.clojure/test.check "1.1.3"]
                 [com.github.jnr/jnr-posix "3.2.8"]
                 [com.github.jnr/jffi "1.4.3"]
                 [com.github.jnr/jffi "1.4.3" :classifier "native"]]
  :source-paths ["src/clj"]
  :java-source-paths ["src/java"]
  :javac-options ["--release" "17" "-Xlint:all,-serial,-processing,-options" "-Werror"]
  :test-paths ["test"]
  :resource-paths []
  :main sockets.cli
  :jvm-opts ["-XX:-OmitStackTraceInFastThrow"]
  ;; The default profile pulls nREPL from Clojars, which is not reachable everywhere:
  ;; :base is emptied and nREPL lives in :repl, so `lein repl` works where Clojars is.
  :profiles {:base {}
             :dev {:source-paths ["dev"]}
             :repl {:dependencies [[nrepl/nrepl "1.3.1"]]}
             ;; AOT output kept apart, so stale compiled namespaces never shadow src/ in target/classes
             :uberjar {:aot [sockets.cli] :target-path "target/uberjar"}
             ;; `lein bench`: bench/ (sockets.bench, C programs in bench/c) is only on this profile's path
             :bench {:source-paths ["bench"]
                     ;; Netty's native epoll transport, the bench's best-JVM-transport peer (bench/sockets/bench/netty.clj)
                     :dependencies [[io.netty/netty-transport-native-epoll "4.2.18.Final" :classifier "linux-x86_64"]
                                    [io.netty/netty-transport-classes-epoll "4.2.18.Final"]]}}
  :test-selectors {:default (complement :slow)
                   :slow :slow
                   :all (constantly true)}
  :aliases {"bench" ["with-profile" "+bench" "run" "-m" "sockets.bench"]})
