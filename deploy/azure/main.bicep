// The survey bot on Azure: an Azure Bot with the Teams channel, the bot's container on Azure Container Apps,
// PostgreSQL 16 (Flexible Server) reachable only inside a virtual network, Key Vault for the secrets, and
// Application Insights on a Log Analytics workspace. deploy/README.md walks through using it.
//
// Why Container Apps rather than App Service: it runs the very image of deploy/docker unchanged, probes
// GET /healthz, scales between a minimum and maximum number of replicas, and reads Key Vault secrets into
// environment variables through a managed identity, with no App Service plan to size.
//
// Deploy it twice with the same parameters (see deploy/README.md): the first run, with containerImage
// empty, creates everything except the container app (so the registry exists to push the image to);
// the second, with containerImage set, adds the container app. Every later run is an update.

targetScope = 'resourceGroup'

// ---------------------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------------------

@description('Azure region for everything except the Azure Bot, which is global.')
param location string = resourceGroup().location

@description('Short name used to build resource names: lowercase letters, digits and hyphens.')
@minLength(3)
@maxLength(12)
param namePrefix string = 'surveybot'

@description('Tags put on every resource.')
param tags object = {
  application: 'surveybot'
}

@description('How the bot proves who it is: a single-tenant app registration with a client secret, or the user-assigned managed identity this template creates (no secret to rotate).')
@allowed([
  'SingleTenant'
  'UserAssignedMSI'
])
param botAppType string = 'SingleTenant'

@description('SingleTenant: the app registration\'s Application (client) ID. Ignored for UserAssignedMSI.')
param microsoftAppId string = ''

@description('The Microsoft Entra tenant of the app registration (and of your Teams).')
param microsoftAppTenantId string = subscription().tenantId

@description('SingleTenant: the app registration\'s client secret. Stored in Key Vault, never in the app\'s settings.')
@secure()
param microsoftAppPassword string = ''

@description('The bot\'s name as the Azure Bot resource shows it (Teams shows the name in the app package).')
param botDisplayName string = 'Partnership Survey'

@description('Azure Bot pricing tier. Teams is a standard channel: F0 has no message limit for it.')
@allowed([
  'F0'
  'S1'
])
param botSku string = 'F0'

@description('The bot image, e.g. myregistry.azurecr.io/surveybot:0.1.0. Empty on the first deployment: the container app is created once the image has been pushed to the registry this template makes.')
param containerImage string = ''

@description('Replicas that always run. At least 1: reminders and summaries need a running bot, and Teams expects a reply within seconds.')
@minValue(1)
param minReplicas int = 1

@description('Replicas at most. More than one is safe: state, locks and deduplication live in PostgreSQL.')
@minValue(1)
param maxReplicas int = 3

@description('Comma-separated Microsoft Entra object ids of the partnership leads (LEAD_USER_IDS).')
param leadUserIds string = ''

@description('Time zone for dates shown to people (TIME_ZONE).')
param timeZone string = 'Europe/London'

@allowed([
  'DEBUG'
  'INFO'
  'WARNING'
  'ERROR'
])
param logLevel string = 'INFO'

@description('PostgreSQL administrator login; the bot connects as this user.')
param postgresAdminLogin string = 'surveybot'

@description('PostgreSQL administrator password. Stored in Key Vault (on its own and inside DATABASE_URL).')
@secure()
@minLength(16)
param postgresAdminPassword string

@description('PostgreSQL compute size, e.g. Standard_B1ms (Burstable) or Standard_D2ds_v5 (GeneralPurpose).')
param postgresSkuName string = 'Standard_B1ms'

@allowed([
  'Burstable'
  'GeneralPurpose'
  'MemoryOptimized'
])
param postgresSkuTier string = 'Burstable'

@minValue(32)
param postgresStorageSizeGB int = 32

@description('Days of automated backups kept for point-in-time restore (7 to 35).')
@minValue(7)
@maxValue(35)
param postgresBackupRetentionDays int = 35

@description('Also keep backups in the paired region (e.g. UK West for UK South).')
@allowed([
  'Disabled'
  'Enabled'
])
param postgresGeoRedundantBackup string = 'Disabled'

@description('A standby server. Needs the GeneralPurpose or MemoryOptimized tier.')
@allowed([
  'Disabled'
  'SameZone'
  'ZoneRedundant'
])
param postgresHighAvailability string = 'Disabled'

@description('Address space of the virtual network the bot and the database share.')
param vnetAddressPrefix string = '10.40.0.0/16'

@description('Subnet for the Container Apps environment (at least /27, delegated to Microsoft.App/environments).')
param appsSubnetPrefix string = '10.40.0.0/23'

@description('Subnet for PostgreSQL (delegated to Microsoft.DBforPostgreSQL/flexibleServers).')
param postgresSubnetPrefix string = '10.40.2.0/24'

@description('Days Log Analytics keeps the bot\'s logs.')
@minValue(30)
param logRetentionDays int = 30

@description('Key Vault purge protection: deleted secrets cannot be purged early. Irreversible once on.')
param keyVaultPurgeProtection bool = true

// ---------------------------------------------------------------------------------------------------
// Names and derived values
// ---------------------------------------------------------------------------------------------------

var suffix = uniqueString(resourceGroup().id)
var isMsi = botAppType == 'UserAssignedMSI'
var deployApp = !empty(containerImage)

var identityName = '${namePrefix}-id'
var logsName = '${namePrefix}-logs'
var appInsightsName = '${namePrefix}-appi'
var vnetName = '${namePrefix}-vnet'
var keyVaultName = take('kv-${namePrefix}-${suffix}', 24)
var registryName = take('${replace(namePrefix, '-', '')}${suffix}', 50)
var postgresServerName = '${namePrefix}-pg-${suffix}'
var postgresDnsZoneName = '${postgresServerName}.private.postgres.database.azure.com'
var databaseName = 'surveybot'
var environmentName = '${namePrefix}-env'
var containerAppName = '${namePrefix}-bot'
var botResourceName = '${namePrefix}-${suffix}'
var port = 3978

// Built-in role definition ids (Azure built-in roles reference).
var acrPullRoleId = '7f951dda-4ed3-4680-a7ca-43fe172d538d'
var keyVaultSecretsUserRoleId = '4633458b-17de-408a-b874-0445c86b69e6'

// ---------------------------------------------------------------------------------------------------
// Identity, monitoring, registry
// ---------------------------------------------------------------------------------------------------

@description('The identity the container runs as: pulls the image, reads Key Vault and, for UserAssignedMSI, is the bot.')
resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: identityName
  location: location
  tags: tags
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: logRetentionDays
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
  }
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  name: registryName
  location: location
  tags: tags
  sku: {
    name: 'Basic'
  }
  properties: {
    adminUserEnabled: false
  }
}

resource acrPull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, identity.id, acrPullRoleId)
  scope: registry
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', acrPullRoleId)
  }
}

// ---------------------------------------------------------------------------------------------------
// Network: one virtual network, a subnet for the apps and a delegated subnet for PostgreSQL
// ---------------------------------------------------------------------------------------------------

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: vnetName
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        vnetAddressPrefix
      ]
    }
    subnets: [
      {
        name: 'apps'
        properties: {
          addressPrefix: appsSubnetPrefix
          delegations: [
            {
              name: 'container-apps'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: 'postgres'
        properties: {
          addressPrefix: postgresSubnetPrefix
          delegations: [
            {
              name: 'postgres-flexible-server'
              properties: {
                serviceName: 'Microsoft.DBforPostgreSQL/flexibleServers'
              }
            }
          ]
        }
      }
    ]
  }

  resource appsSubnet 'subnets' existing = {
    name: 'apps'
  }

  resource postgresSubnet 'subnets' existing = {
    name: 'postgres'
  }
}

resource postgresDnsZone 'Microsoft.Network/privateDnsZones@2020-06-01' = {
  name: postgresDnsZoneName
  location: 'global'
  tags: tags
}

resource postgresDnsLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = {
  parent: postgresDnsZone
  name: vnetName
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnet.id
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// PostgreSQL 16: private access only (no public endpoint), TLS required
// ---------------------------------------------------------------------------------------------------

resource postgres 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: postgresServerName
  location: location
  tags: tags
  sku: {
    name: postgresSkuName
    tier: postgresSkuTier
  }
  properties: {
    version: '16'
    administratorLogin: postgresAdminLogin
    administratorLoginPassword: postgresAdminPassword
    authConfig: {
      activeDirectoryAuth: 'Disabled'
      passwordAuth: 'Enabled'
    }
    storage: {
      storageSizeGB: postgresStorageSizeGB
      autoGrow: 'Enabled'
    }
    backup: {
      backupRetentionDays: postgresBackupRetentionDays
      geoRedundantBackup: postgresGeoRedundantBackup
    }
    highAvailability: {
      mode: postgresHighAvailability
    }
    network: {
      delegatedSubnetResourceId: vnet::postgresSubnet.id
      privateDnsZoneArmResourceId: postgresDnsZone.id
      publicNetworkAccess: 'Disabled'
    }
  }
  dependsOn: [
    vnet
    postgresDnsLink
  ]
}

resource database 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: postgres
  name: databaseName
  properties: {
    charset: 'UTF8'
    collation: 'en_US.utf8'
  }
}

// On by default on Flexible Server; set here so the template says it. After the database, because the
// server takes one change at a time.
resource requireTls 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: postgres
  name: 'require_secure_transport'
  properties: {
    value: 'ON'
    source: 'user-override'
  }
  dependsOn: [
    database
  ]
}

// ---------------------------------------------------------------------------------------------------
// Key Vault: the bot's client secret and the database password; the app reads them by reference
// ---------------------------------------------------------------------------------------------------

resource keyVault 'Microsoft.KeyVault/vaults@2025-05-01' = {
  name: keyVaultName
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: keyVaultPurgeProtection ? true : null
  }
}

resource postgresPasswordSecret 'Microsoft.KeyVault/vaults/secrets@2025-05-01' = {
  parent: keyVault
  name: 'postgres-admin-password'
  properties: {
    value: postgresAdminPassword
    contentType: 'text/plain'
  }
}

// The whole URL is one secret because the bot reads one variable, DATABASE_URL. `ssl=require` makes
// asyncpg use TLS, which the server insists on.
resource databaseUrlSecret 'Microsoft.KeyVault/vaults/secrets@2025-05-01' = {
  parent: keyVault
  name: 'database-url'
  properties: {
    value: 'postgresql+asyncpg://${postgresAdminLogin}:${uriComponent(postgresAdminPassword)}@${postgres.properties.fullyQualifiedDomainName}:5432/${databaseName}?ssl=require'
    contentType: 'text/plain'
  }
}

resource appPasswordSecret 'Microsoft.KeyVault/vaults/secrets@2025-05-01' = if (!isMsi) {
  parent: keyVault
  name: 'microsoft-app-password'
  properties: {
    value: microsoftAppPassword
    contentType: 'text/plain'
  }
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(keyVault.id, identity.id, keyVaultSecretsUserRoleId)
  scope: keyVault
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUserRoleId)
  }
}

// ---------------------------------------------------------------------------------------------------
// Container Apps: the environment in the virtual network, and the bot
// ---------------------------------------------------------------------------------------------------

resource appsEnvironment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: environmentName
  location: location
  tags: tags
  properties: {
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: logs.properties.customerId
        sharedKey: logs.listKeys().primarySharedKey
      }
    }
    vnetConfiguration: {
      infrastructureSubnetId: vnet::appsSubnet.id
      internal: false
    }
    workloadProfiles: [
      {
        name: 'Consumption'
        workloadProfileType: 'Consumption'
      }
    ]
    zoneRedundant: false
  }
  dependsOn: [
    vnet
  ]
}

// Known before the app exists, so the Azure Bot can point at it on the first deployment.
var botHostName = '${containerAppName}.${appsEnvironment.properties.defaultDomain}'
var messagingEndpoint = 'https://${botHostName}/api/messages'
var botAppId = isMsi ? identity.properties.clientId : microsoftAppId

var databaseUrlSecretRef = [
  {
    name: 'database-url'
    keyVaultUrl: databaseUrlSecret.properties.secretUri
    identity: identity.id
  }
]
var appPasswordSecretRef = isMsi ? [] : [
  {
    name: 'microsoft-app-password'
    keyVaultUrl: '${keyVault.properties.vaultUri}secrets/microsoft-app-password'
    identity: identity.id
  }
]
var appSecrets = concat(databaseUrlSecretRef, appPasswordSecretRef)

var baseEnv = [
  {
    name: 'DATABASE_URL'
    secretRef: 'database-url'
  }
  {
    name: 'MICROSOFT_APP_ID'
    value: botAppId
  }
  {
    name: 'MICROSOFT_APP_TYPE'
    value: botAppType
  }
  {
    name: 'MICROSOFT_APP_TENANT_ID'
    value: microsoftAppTenantId
  }
  {
    name: 'PORT'
    value: string(port)
  }
  {
    name: 'LOG_LEVEL'
    value: logLevel
  }
  {
    name: 'TIME_ZONE'
    value: timeZone
  }
  {
    // Ready for OpenTelemetry once the app sends telemetry; until then its logs go to Log Analytics.
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: appInsights.properties.ConnectionString
  }
]
var appPasswordEnv = isMsi ? [] : [
  {
    name: 'MICROSOFT_APP_PASSWORD'
    secretRef: 'microsoft-app-password'
  }
]
var leadsEnv = empty(leadUserIds) ? [] : [
  {
    name: 'LEAD_USER_IDS'
    value: leadUserIds
  }
]
var appEnv = concat(baseEnv, appPasswordEnv, leadsEnv)

resource containerApp 'Microsoft.App/containerApps@2024-03-01' = if (deployApp) {
  name: containerAppName
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    environmentId: appsEnvironment.id
    workloadProfileName: 'Consumption'
    configuration: {
      activeRevisionsMode: 'Single'
      ingress: {
        external: true
        targetPort: port
        transport: 'auto'
        allowInsecure: false
      }
      registries: [
        {
          server: registry.properties.loginServer
          identity: identity.id
        }
      ]
      secrets: appSecrets
    }
    template: {
      containers: [
        {
          name: 'bot'
          image: containerImage
          // The image's CMD runs `python -m bot db upgrade` and then `python -m bot serve`.
          env: appEnv
          resources: {
            cpu: json('0.5')
            memory: '1Gi'
          }
          probes: [
            {
              type: 'Startup'
              httpGet: {
                path: '/healthz'
                port: port
              }
              initialDelaySeconds: 5
              periodSeconds: 10
              failureThreshold: 10
              timeoutSeconds: 5
            }
            {
              type: 'Liveness'
              httpGet: {
                path: '/healthz'
                port: port
              }
              periodSeconds: 30
              failureThreshold: 3
              timeoutSeconds: 5
            }
            {
              type: 'Readiness'
              httpGet: {
                path: '/readyz'
                port: port
              }
              periodSeconds: 10
              failureThreshold: 3
              timeoutSeconds: 5
            }
          ]
        }
      ]
      scale: {
        minReplicas: minReplicas
        maxReplicas: maxReplicas
        rules: [
          {
            name: 'http-requests'
            http: {
              metadata: {
                concurrentRequests: '50'
              }
            }
          }
        ]
      }
    }
  }
  dependsOn: [
    acrPull
    secretsUser
    appPasswordSecret
    requireTls
  ]
}

// ---------------------------------------------------------------------------------------------------
// Azure Bot and its Teams channel
// ---------------------------------------------------------------------------------------------------

resource bot 'Microsoft.BotService/botServices@2022-09-15' = {
  name: botResourceName
  location: 'global'
  tags: tags
  kind: 'azurebot'
  sku: {
    name: botSku
  }
  properties: {
    displayName: botDisplayName
    endpoint: messagingEndpoint
    msaAppId: botAppId
    msaAppType: botAppType
    msaAppTenantId: microsoftAppTenantId
    msaAppMSIResourceId: isMsi ? identity.id : null
  }
}

// Deploying this accepts the Microsoft Teams channel's terms of service for your organisation.
resource teamsChannel 'Microsoft.BotService/botServices/channels@2022-09-15' = {
  parent: bot
  name: 'MsTeamsChannel'
  location: 'global'
  properties: {
    channelName: 'MsTeamsChannel'
    properties: {
      isEnabled: true
      acceptedTerms: true
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Outputs
// ---------------------------------------------------------------------------------------------------

@description('The bot\'s base URL.')
output botEndpoint string = 'https://${botHostName}'

@description('Where Teams (through the Azure Bot) posts activities.')
output messagingEndpoint string = messagingEndpoint

@description('For `python -m bot package --endpoint-domain`.')
output botHostName string = botHostName

@description('For `python -m bot package --app-id`: the bot\'s Microsoft App ID.')
output microsoftAppId string = botAppId

output healthUrl string = 'https://${botHostName}/healthz'
output containerAppDeployed bool = deployApp
output registryName string = registry.name
output registryLoginServer string = registry.properties.loginServer
output keyVaultName string = keyVault.name
output postgresServerName string = postgres.name
output postgresHost string = postgres.properties.fullyQualifiedDomainName
output databaseName string = databaseName
output containerAppName string = containerAppName
output botResourceName string = bot.name
output logAnalyticsWorkspaceName string = logs.name
